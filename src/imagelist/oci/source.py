"""Registry sources: discover artifacts in a registry and describe them as image-list images.

A source is a table ``[oci.sources.NAME]`` of the site file::

    [oci.sources.egi]
    registry = "registry.egi.eu"
    repositories = ["egi_vm_images/ubuntu", "egi_vm_images/alma"]
    # or: harbor_project = "egi_vm_images" (repositories from Harbor's REST API v2.0)
    tag_pattern = "^[^-]*$"          # EGI's floating tags, as the central atrope uses
    trust = "cosign-key"             # "imagelist" (default), "cosign-key" or "none"
    public_key = "/etc/imagelist/egi-cosign.pub"
    max_age_days = 90
    credentials = "/etc/imagelist/oci-credentials.toml"
    ca_bundle = "/etc/grid-security/registry-ca.pem"
    new_images = "subscribe"         # for vmcatcher_subscribe -U: refuse (default), accept

``imagelist`` trust has nothing to discover: the images come from a signed list of
``oci://…@sha256`` entries, subscribed to as any list. ``cosign-key``: every tag matching the
pattern is resolved to the digest of its manifest bytes, which must carry a cosign signature
the pinned key verifies, younger than ``max_age_days``. ``none`` is atrope's behaviour
(whatever the registry serves): it must be asked for with ``allow_unsigned = true`` and is
logged as a warning on every discovery.

:func:`discover` reads each chosen layer once (sha256 checked, SHA-512 computed) and returns
:class:`~imagelist.document.Image` objects with ``hv:uri`` pinned to the digest, the same
objects the HEPiX path produces.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..document import Image
from ..errors import ConfigurationError, ImageListError
from .access import RegistryAccess
from .client import RegistryClient
from .cosign import load_public_key, verify_manifest
from .describe import LayerFacts, describe_image
from .harbor import harbor_repositories
from .reference import Reference

__all__ = ["NEW_IMAGE_MODES", "TRUST_MODES", "RegistrySource", "discover", "parse_sources"]

logger = logging.getLogger(__name__)

TRUST_MODES = ("imagelist", "cosign-key", "none")
_KEYS = {
    "registry": str,
    "repositories": list,
    "harbor_project": str,
    "harbor_api": str,
    "tag_pattern": str,
    "trust": str,
    "public_key": str,
    "max_age_days": float,
    "allow_unsigned": bool,
    "credentials": str,
    "ca_bundle": str,
    "plain_http": bool,
    "new_images": str,
}
#: ``new_images`` → the subscription's update mode (as ``vmcatcher_subscribe -s`` sets it)
NEW_IMAGE_MODES = {"refuse": 0, "accept": 1, "subscribe": 3}
_SIGNATURE_TAG = re.compile(r"sha256-[a-f0-9]{64}(\.sig|\.att|\.sbom)?")


@dataclass(frozen=True)
class RegistrySource:
    """One ``[oci.sources.NAME]`` table, checked."""

    name: str
    registry: str
    repositories: tuple[str, ...] = ()
    harbor_project: str | None = None
    harbor_api: str | None = None
    tag_pattern: str = ".*"
    trust: str = "imagelist"
    public_key: Path | None = None
    max_age_days: float | None = None
    allow_unsigned: bool = False
    #: what ``vmcatcher_subscribe -U`` does with a new image id: refuse, accept or subscribe
    new_images: str = "refuse"
    access: RegistryAccess = field(default_factory=RegistryAccess)


def _source(path: str, name: str, table: Any) -> RegistrySource:
    where = f"configuration file {path}: oci.sources.{name}"
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table")
    for key, value in table.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise ConfigurationError(f"{where}: unknown key {key}")
        ok = isinstance(value, kind) and not (kind is float and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if kind is list:
            ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if not ok:
            raise ConfigurationError(f"{where}.{key} has the wrong type ({kind.__name__})")
    if "registry" not in table:
        raise ConfigurationError(f"{where}: registry is required")
    trust = table.get("trust", "imagelist")
    if trust not in TRUST_MODES:
        raise ConfigurationError(f"{where}.trust must be one of {', '.join(TRUST_MODES)}")
    if trust == "cosign-key" and "public_key" not in table:
        raise ConfigurationError(f"{where}: trust cosign-key needs public_key")
    if trust == "none" and not table.get("allow_unsigned"):
        raise ConfigurationError(
            f"{where}: trust none (no verification at all) needs allow_unsigned = true"
        )
    if trust != "imagelist" and not (table.get("repositories") or table.get("harbor_project")):
        raise ConfigurationError(f"{where}: repositories or harbor_project is required")
    if table.get("new_images", "refuse") not in NEW_IMAGE_MODES:
        raise ConfigurationError(f"{where}.new_images must be one of refuse, accept, subscribe")
    try:
        re.compile(table.get("tag_pattern", ".*"))
    except re.error:
        raise ConfigurationError(f"{where}.tag_pattern is not a valid regular expression") from None
    registry = table["registry"].lower()
    return RegistrySource(
        name=name,
        registry=registry,
        repositories=tuple(table.get("repositories", ())),
        harbor_project=table.get("harbor_project"),
        harbor_api=table.get("harbor_api"),
        tag_pattern=table.get("tag_pattern", ".*"),
        trust=trust,
        public_key=Path(table["public_key"]) if "public_key" in table else None,
        max_age_days=float(table["max_age_days"]) if "max_age_days" in table else None,
        allow_unsigned=bool(table.get("allow_unsigned", False)),
        new_images=table.get("new_images", "refuse"),
        access=RegistryAccess(
            Path(table["credentials"]) if "credentials" in table else None,
            Path(table["ca_bundle"]) if "ca_bundle" in table else None,
            frozenset({registry}) if table.get("plain_http") else frozenset(),
        ),
    )


def parse_sources(path: str, value: Any) -> tuple[RegistrySource, ...]:
    """The ``[oci.sources.*]`` tables of the site file ``path`` (ConfigurationError, exit 78)."""
    if not isinstance(value, dict):
        raise ConfigurationError(f"configuration file {path}: oci.sources must be a table")
    return tuple(_source(path, name, table) for name, table in value.items())


def _tags(client: RegistryClient, repository: str, pattern: re.Pattern[str]) -> list[str]:
    return [
        tag
        for tag in client.tags(repository)
        if not _SIGNATURE_TAG.fullmatch(tag) and pattern.search(tag)
    ]


def discover(
    source: RegistrySource, *, known: Mapping[str, str] | None = None
) -> tuple[list[Image], list[ImageListError]]:
    """The images of ``source`` (verified as its trust mode says) and the failures.

    ``known`` maps layer digests, or digest-pinned ``oci://`` URIs of manifests, to SHA-512s
    already computed, so that a layer is read once (a manifest digest fixes its layer's bytes).
    One failing artifact is reported and the others go on.
    """
    if source.trust == "imagelist":
        return [], []
    if source.trust == "none":
        logger.warning(
            "source %s: trust none: images from %s are NOT verified (atrope's behaviour)",
            source.name,
            source.registry,
        )
    key = load_public_key(source.public_key) if source.public_key else None
    max_age = None if source.max_age_days is None else source.max_age_days * 86400
    client = RegistryClient(source.registry, source.access)
    images: list[Image] = []
    failures: list[ImageListError] = []
    seen: set[str] = set()
    try:
        repositories = list(source.repositories)
        if source.harbor_project:
            repositories += harbor_repositories(source, client)
        pattern = re.compile(source.tag_pattern)
        for repository in repositories:
            try:
                tags = _tags(client, repository, pattern)
            except ImageListError as exc:
                failures.append(exc)
                continue
            for tag in tags:
                try:
                    image = _one(client, source, Reference(source.registry, repository, tag),
                                 key, max_age, known or {}, seen)  # fmt: skip
                except ImageListError as exc:
                    logger.error("source %s: %s:%s: %s", source.name, repository, tag, exc)
                    failures.append(exc)
                    continue
                if image is not None:
                    images.append(image)
    finally:
        client.close()
    return images, failures


def _one(
    client: RegistryClient,
    source: RegistrySource,
    reference: Reference,
    key: Any,
    max_age: float | None,
    known: Mapping[str, str],
    seen: set[str],
) -> Image | None:
    manifest = client.get_manifest(reference.repository, reference.target)
    pinned = reference.with_digest(manifest.digest)
    if pinned.uri() in seen:
        return None
    seen.add(pinned.uri())
    if key is not None:
        verify_manifest(client, pinned, key, max_age=max_age)
    layer = manifest.disk_layer()
    remembered = known.get(layer.digest) or known.get(pinned.uri())
    if remembered:
        facts = LayerFacts(pinned, manifest, layer, remembered)
    else:
        facts = describe_image(client, pinned)
    fields = facts.image_fields()
    identifier = str(uuid.uuid5(uuid.NAMESPACE_URL, pinned.uri()))
    return Image(
        identifier=identifier,
        title=str(fields.get("dc:title") or f"{reference.repository}:{reference.tag}"),
        description=str(fields.get("dc:description") or ""),
        uri=pinned.uri(),
        size=facts.size,
        sha512=facts.sha512,
        arch=str(fields.get("sl:arch") or ""),
        os=str(fields.get("sl:os") or ""),
        osversion=str(fields.get("sl:osversion") or ""),
        comments=f"{source.name}: {reference.repository}:{reference.tag} (trust {source.trust})",
        hypervisor="QEMU,KVM",
        version=str(fields.get("hv:version") or reference.tag),
        unrecognized_fields={
            k: v for k, v in fields.items() if k.startswith(("oci:", "hv:format", "sl:osname"))
        },
    )
