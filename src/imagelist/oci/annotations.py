"""EGI's OCI annotations: into image-list fields, and into Glance properties as atrope sets them.

EGI's images carry (fedcloud-vmi-templates, ``oras push --annotation-file``) on the layer:
``org.openstack.glance.{os_distro,os_version,os_type,architecture,disk_format,container_format}``,
``eu.egi.cloud.description`` (or ``eu.egi.cloud.image.title``), ``eu.egi.cloud.tag`` and
``org.opencontainers.image.title``; on the manifest ``org.opencontainers.image.{revision,source}``.

:func:`list_fields` turns them into the fields of a list entry (what the endorser signs, so the
annotations stop being advisory): the usual HEPiX keys, plus ``oci:layer-digest`` and
``oci:annotations`` (the merged annotations, verbatim). :func:`glance_properties` gives the
Glance properties atrope 2.1 sets for a Harbor image, from a signed entry, so that a site leaving
the central atrope sees the same ones: ``os_distro``, ``os_version``, ``architecture``,
``vmcatcher_event_dc_description``, ``image_hash`` (the layer digest) and, as atrope does,
``APPLIANCE_ATTRIBUTES`` left to the backend (the whole entry, annotations included).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ANNOTATIONS_FIELD", "LAYER_DIGEST_FIELD", "glance_properties", "list_fields"]

ANNOTATIONS_FIELD = "oci:annotations"
LAYER_DIGEST_FIELD = "oci:layer-digest"
_GLANCE = "org.openstack.glance."
#: annotation → list field (the HEPiX keys the backends already read)
_TO_FIELDS = {
    f"{_GLANCE}architecture": "sl:arch",
    f"{_GLANCE}os_distro": "sl:osname",
    f"{_GLANCE}os_version": "sl:osversion",
    "eu.egi.cloud.description": "dc:description",
    "eu.egi.cloud.image.title": "dc:title",
    "eu.egi.cloud.tag": "hv:version",
}
#: annotation → Glance property, as atrope's Harbor image and Glance dispatcher map them
_TO_GLANCE = {
    f"{_GLANCE}architecture": "architecture",
    f"{_GLANCE}os_distro": "os_distro",
    f"{_GLANCE}os_version": "os_version",
    "eu.egi.cloud.description": "vmcatcher_event_dc_description",
}


def list_fields(annotations: Mapping[str, str], layer_digest: str | None = None) -> dict[str, Any]:
    """The list-entry fields the annotations give (an endorser may override any of them)."""
    fields: dict[str, Any] = {}
    for source, target in _TO_FIELDS.items():
        value = annotations.get(source)
        if value:
            fields.setdefault(target, value)
    if "dc:title" not in fields and annotations.get("org.opencontainers.image.title"):
        fields["dc:title"] = annotations["org.opencontainers.image.title"]
    disk_format = annotations.get(f"{_GLANCE}disk_format")
    if disk_format:
        fields["hv:format"] = disk_format.upper()
    os_type = annotations.get(f"{_GLANCE}os_type")
    if os_type:
        fields["sl:os"] = os_type.capitalize()
    if layer_digest:
        fields[LAYER_DIGEST_FIELD] = layer_digest
    if annotations:
        fields[ANNOTATIONS_FIELD] = dict(sorted(annotations.items()))
    return fields


def glance_properties(entry: Mapping[str, Any]) -> dict[str, str]:
    """atrope's Glance properties for a signed list entry of an OCI image (else {})."""
    annotations = entry.get(ANNOTATIONS_FIELD)
    if not isinstance(annotations, Mapping):
        annotations = {}
    props: dict[str, str] = {}
    for source, target in _TO_GLANCE.items():
        value = annotations.get(source)
        if isinstance(value, str) and value:
            props[target] = value
    digest = entry.get(LAYER_DIGEST_FIELD)
    if isinstance(digest, str) and digest:
        props["image_hash"] = digest
    return props
