"""vmcaster's side: point an image of the publisher database at an image already in a registry.

:func:`register_registry_image` reads the disk layer of ``reference`` once
(:func:`~imagelist.oci.describe.describe_image`: manifest hashed, layer sha256 checked, SHA-512
computed) and stores ``hv:uri`` (``oci://…@sha256:DIGEST``), ``hv:size`` and
``sl:checksum:sha512`` in the image's keys, bumping ``hv:version`` when the SHA-512 changed (as
``--upload-image`` does). Keys the annotations give (``sl:arch``, ``sl:osversion``,
``hv:format``, ...) are set only where the image has none; ``oci:layer-digest`` always. The list
signed afterwards names the image by digest, so subscribers fetch exactly what was read here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import ImageNotListedError
from ..publisher.store import PublisherStore
from ..versions import next_version
from .access import RegistryAccess
from .annotations import ANNOTATIONS_FIELD
from .client import RegistryClient
from .describe import LayerFacts, describe_image
from .reference import parse_reference

__all__ = ["RegistryImage", "register_registry_image"]

logger = logging.getLogger(__name__)

_ALWAYS = ("hv:uri", "hv:size", "sl:checksum:sha512", "oci:layer-digest")


@dataclass(frozen=True)
class RegistryImage:
    """What was recorded for ``image``: the facts read, the version, and whether it changed."""

    image: str
    facts: LayerFacts
    version: str
    unchanged: bool


def register_registry_image(
    store: PublisherStore, image: str, reference: str, access: RegistryAccess
) -> RegistryImage:
    """Describe ``reference`` (a tag or a digest) and record it as ``image``'s file; ``access``:
    the command's registry credentials, CA and plain-http hosts."""
    parsed = parse_reference(reference, bare=True)
    if not store.imagelists_of_image(image):
        raise ImageNotListedError(
            f"image {image} is in no image list: link it with --imagelist-add-image"
        )
    client = RegistryClient(parsed.registry, access)
    try:
        facts = describe_image(client, parsed)
    finally:
        client.close()
    keys = store.keys("image", image)
    fields = facts.image_fields()
    same_file = keys.get("sl:checksum:sha512") == facts.sha512
    unchanged = same_file and keys.get("hv:uri") == fields["hv:uri"]
    values: dict[str, str] = {}
    for key, value in fields.items():
        if key == ANNOTATIONS_FIELD or not isinstance(value, str | int):
            continue
        if key in _ALWAYS or not keys.get(key):
            values[key] = str(value)
    values.pop("hv:version", None)
    version = keys.get("hv:version", "")
    if not unchanged:
        version = values["hv:version"] = next_version(keys.get("hv:version"))
    store.set_keys("image", image, values)
    if unchanged:
        logger.warning("image %s unchanged (same digest and SHA-512)", image)
    else:
        logger.info("image %s version %s is %s", image, version, fields["hv:uri"])
    return RegistryImage(image, facts, version, unchanged)
