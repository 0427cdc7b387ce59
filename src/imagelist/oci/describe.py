"""Describe an image already in a registry for a signed list: digest, size and SHA-512.

Given a reference (tag or digest), :func:`describe_image` fetches the manifest (its bytes hashed;
by tag, the digest of those bytes is what gets pinned), chooses the disk layer and streams it
once, hashing SHA-256 (must be the descriptor's) and SHA-512 (for ``sl:checksum:sha512``). The
result's :meth:`LayerFacts.image_fields` are the list entry an endorser signs: ``hv:uri`` is
``oci://HOST/REPO@sha256:DIGEST``, so what the subscribers fetch is what was read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from ..errors import OciBlobError, OciUnavailableError
from .annotations import list_fields
from .blobs import LayerHasher
from .client import RegistryClient
from .manifest import DISK_MEDIA_TYPES, Descriptor, Manifest
from .reference import Reference

__all__ = ["LayerFacts", "describe_image"]

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LayerFacts:
    """What was read: the pinned reference, its manifest, the disk layer, its SHA-512."""

    reference: Reference
    manifest: Manifest
    layer: Descriptor
    sha512: str

    @property
    def size(self) -> int:
        return self.layer.size

    def image_fields(self) -> dict[str, Any]:
        """The image-list fields: hv:uri, hv:size, sl:checksum:sha512, and from annotations."""
        fields: dict[str, Any] = list_fields(
            self.manifest.merged_annotations(self.layer), self.layer.digest
        )
        fields.update(
            {
                "hv:uri": self.reference.uri(),
                "hv:size": self.size,
                "sl:checksum:sha512": self.sha512,
            }
        )
        return fields


def describe_image(
    client: RegistryClient,
    reference: Reference,
    *,
    media_types: tuple[str, ...] = DISK_MEDIA_TYPES,
    sink: IO[bytes] | None = None,
) -> LayerFacts:
    """Read the disk layer of ``reference`` once (into ``sink`` too, if given) and describe it."""
    manifest = client.get_manifest(reference.repository, reference.target)
    layer = manifest.disk_layer(media_types)
    hasher = LayerHasher()  # SHA-256 and SHA-512, each in its own thread
    size = 0
    response = client.open_blob(reference.repository, layer.digest)
    try:
        if response.status_code != 200:
            raise OciUnavailableError(
                f"{client.registry}: blob {layer.digest}: HTTP {response.status_code}"
            )
        while chunk := response.raw.read(min(_CHUNK, layer.size + 1 - size)):
            size += len(chunk)
            if size > layer.size:
                raise OciBlobError(f"blob {layer.digest} is longer than its {layer.size} bytes")
            hasher.update(chunk)
            if sink is not None:
                sink.write(chunk)
    finally:
        response.close()
        sha256, sha512 = hasher.sha256.hexdigest(), hasher.hexdigest()
        hasher.close()
    if size != layer.size:
        raise OciBlobError(f"blob {layer.digest} ended after {size} of {layer.size} bytes")
    if "sha256:" + sha256 != layer.digest:
        raise OciBlobError(
            f"the registry's blob {layer.digest} is corrupt: its bytes hash to sha256:{sha256}"
        )
    return LayerFacts(reference.with_digest(manifest.digest), manifest, layer, sha512)
