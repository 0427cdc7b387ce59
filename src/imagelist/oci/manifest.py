"""Image manifests, their descriptors, and the choice of the disk layer.

A manifest is parsed from the exact bytes whose sha256 is its digest (we never re-serialise
JSON to compute a digest). Only image manifests are accepted (OCI or Docker schema 2); an index
is refused, as is anything that is not a JSON object with well-formed descriptors. The disk
layer is the one layer whose media type is a disk type; none or several is an error, never a
guess (atrope took the first layer, oras the largest file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import OciManifestError

__all__ = [
    "DISK_MEDIA_TYPES",
    "DOCKER_MANIFEST",
    "INDEX_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "OCI_MANIFEST",
    "Descriptor",
    "Manifest",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
#: Disk layers we take: EGI's (fedcloud-vmi-templates since 2025-07) and a raw disk.
DISK_MEDIA_TYPES = ("application/x-qemu-disk", "application/x-raw-disk-image")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_MAX_LAYERS = 256


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: media type, sha256 digest, size and annotations."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def hex(self) -> str:
        return self.digest.removeprefix("sha256:")

    @classmethod
    def parse(cls, value: Any, where: str) -> Descriptor:
        if not isinstance(value, dict):
            raise OciManifestError(f"{where} is not a descriptor object")
        media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
        if not isinstance(media_type, str) or not media_type or len(media_type) > 255:
            raise OciManifestError(f"{where} has no valid mediaType")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise OciManifestError(f"{where} has no sha256 digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise OciManifestError(f"{where} has no valid size")
        return cls(media_type, digest, size, _annotations(value.get("annotations"), where))


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise OciManifestError(f"{where}: annotations must map strings to strings")
    return dict(value)


@dataclass(frozen=True)
class Manifest:
    """An image manifest and the digest of its bytes."""

    digest: str
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str]
    artifact_type: str | None = None

    @classmethod
    def parse(cls, body: bytes, digest: str, content_type: str | None = None) -> Manifest:
        """Parse the bytes of the manifest ``digest`` (already checked to hash to it)."""
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise OciManifestError(f"manifest {digest} is not JSON") from None
        if not isinstance(document, dict):
            raise OciManifestError(f"manifest {digest} is not a JSON object")
        media_type = document.get("mediaType") or (content_type or "").split(";")[0].strip()
        if media_type in INDEX_MEDIA_TYPES or "manifests" in document:
            raise OciManifestError(
                f"{digest} is an image index, not an image manifest (pin the platform's manifest)"
            )
        if media_type and media_type not in MANIFEST_MEDIA_TYPES:
            raise OciManifestError(f"manifest {digest} has unsupported media type {media_type!r}")
        if document.get("schemaVersion") != 2:
            raise OciManifestError(f"manifest {digest} is not schemaVersion 2")
        layers = document.get("layers")
        if not isinstance(layers, list) or len(layers) > _MAX_LAYERS:
            raise OciManifestError(f"manifest {digest} has no valid layers list")
        artifact_type = document.get("artifactType")
        return cls(
            digest=digest,
            media_type=media_type or OCI_MANIFEST,
            config=Descriptor.parse(document.get("config"), f"manifest {digest} config"),
            layers=tuple(
                Descriptor.parse(layer, f"manifest {digest} layer {index}")
                for index, layer in enumerate(layers)
            ),
            annotations=_annotations(document.get("annotations"), f"manifest {digest}"),
            artifact_type=artifact_type if isinstance(artifact_type, str) else None,
        )

    def disk_layer(self, media_types: Iterable[str] = DISK_MEDIA_TYPES) -> Descriptor:
        """The one layer whose media type is in ``media_types``; none or several is an error."""
        wanted = tuple(media_types)
        found = [layer for layer in self.layers if layer.media_type in wanted]
        if not found:
            raise OciManifestError(
                f"manifest {self.digest} has no disk layer (media type {' or '.join(wanted)})"
            )
        if len(found) > 1:
            raise OciManifestError(
                f"manifest {self.digest} has {len(found)} disk layers; which one is the image "
                "is ambiguous"
            )
        return found[0]

    def merged_annotations(self, layer: Descriptor) -> dict[str, str]:
        """The manifest's annotations overlaid with the layer's (as atrope merges them)."""
        return {**self.annotations, **layer.annotations}
