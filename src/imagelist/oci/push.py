"""Pushing blobs and manifests (monolithic uploads, streamed from a file), as oras does.

Used to put disk images into a registry in EGI's layout (an empty config, one
``application/x-qemu-disk`` layer with annotations) and to store cosign signatures.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from ..errors import OciError
from ..hashing import StreamHasher, hash_descriptor
from .client import RegistryClient
from .manifest import OCI_MANIFEST, Descriptor

__all__ = [
    "EMPTY_CONFIG",
    "build_manifest",
    "push_blob",
    "push_file",
    "push_manifest",
]

#: The OCI 1.1 empty config (``{}``), as oras CLI 1.2 writes it.
EMPTY_CONFIG = Descriptor(
    "application/vnd.oci.empty.v1+json",
    "sha256:" + hashlib.sha256(b"{}").hexdigest(),
    2,
)


def _upload(client: RegistryClient, repository: str, digest: str, body: object) -> None:
    scope = f"repository:{repository}:pull,push"
    start = client.request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope)
    start.close()
    if start.status_code != 202 or "Location" not in start.headers:
        raise OciError(f"{client.registry}: cannot start an upload: HTTP {start.status_code}")
    location = urljoin(client.base + "/", start.headers["Location"])
    if urlsplit(location).netloc.lower() != client.registry:
        raise OciError(f"{client.registry}: upload location on another host")
    joiner = "&" if "?" in location else "?"
    done = client.request(
        "PUT",
        location + joiner + urlencode({"digest": digest}),
        scope=scope,
        headers={"Content-Type": "application/octet-stream"},
        data=body,  # type: ignore[arg-type]
        timeout=(client.timeout[0], 600.0),
    )
    done.close()
    if done.status_code != 201:
        raise OciError(f"{client.registry}: upload of {digest} failed: HTTP {done.status_code}")


def push_blob(client: RegistryClient, repository: str, data: bytes, media_type: str) -> Descriptor:
    """Upload ``data`` (small: configs, signature payloads) and describe it."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _upload(client, repository, digest, data)
    return Descriptor(media_type, digest, len(data))


def push_file(
    client: RegistryClient,
    repository: str,
    path: Path,
    media_type: str,
    annotations: Mapping[str, str] | None = None,
) -> Descriptor:
    """Upload the file ``path`` (hashed first, then streamed) and describe it."""
    with path.open("rb") as handle:
        hasher = hash_descriptor(handle.fileno(), path, StreamHasher("sha256"))
        size = hasher.size
        descriptor = Descriptor(media_type, "sha256:" + hasher.hexdigest(), size, annotations or {})
        _upload(client, repository, descriptor.digest, handle)
    if os.stat(path).st_size != size:
        raise OciError(f"{path} changed while it was uploaded")
    return descriptor


def _descriptor_json(descriptor: Descriptor) -> dict[str, object]:
    value: dict[str, object] = {
        "mediaType": descriptor.media_type,
        "digest": descriptor.digest,
        "size": descriptor.size,
    }
    if descriptor.annotations:
        value["annotations"] = dict(descriptor.annotations)
    return value


def build_manifest(
    config: Descriptor,
    layers: list[Descriptor],
    annotations: Mapping[str, str] | None = None,
    artifact_type: str | None = None,
) -> bytes:
    """The bytes of an OCI image manifest (the digest is their sha256)."""
    document: dict[str, object] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["config"] = _descriptor_json(config)
    document["layers"] = [_descriptor_json(layer) for layer in layers]
    if annotations:
        document["annotations"] = dict(annotations)
    return json.dumps(document, indent=2).encode()


def push_manifest(
    client: RegistryClient,
    repository: str,
    body: bytes,
    reference: str,
    media_type: str = OCI_MANIFEST,
) -> str:
    """PUT the manifest ``body`` at ``reference`` (a tag or its digest); its digest."""
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    response = client.request(
        "PUT",
        f"/v2/{repository}/manifests/{reference}",
        scope=f"repository:{repository}:pull,push",
        headers={"Content-Type": media_type},
        data=body,
    )
    response.close()
    if response.status_code != 201:
        raise OciError(f"{client.registry}: manifest PUT failed: HTTP {response.status_code}")
    return digest
