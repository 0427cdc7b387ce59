"""Digest-pinned ``oci://`` images for the cache's download engine (ADR 0022).

An image list may name an image ``oci://HOST/REPO@sha256:DIGEST``; the signed list keeps all the
trust (endorser, expiry, revocation, ``hv:size`` and ``sl:checksum:sha512``), the registry is an
untrusted mirror. For such an image the :class:`~imagelist.cache.download.Downloader` asks
:class:`RegistryBlobs` to open the disk layer instead of a URL:

1. the reference must be pinned by digest (a tag proves nothing);
2. the manifest is fetched by that digest and its bytes must hash to it;
3. the disk layer is the one layer of a disk media type; its size must be ``hv:size``;
4. the blob is streamed (with ``Range`` when resuming) through the same partial file, bounds,
   retries and stall watchdog as any download, hashed by :class:`LayerHasher`: the
   descriptor's sha256 and the list's SHA-512 in one pass, each in its own thread.

A moved tag changes nothing (tags are never read); a swapped manifest fails step 2; a corrupt
blob fails the sha256 (exit 65) and leaves nothing in the cache.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import requests
from requests.adapters import HTTPAdapter

from ..errors import OciBlobError, OciManifestError
from ..hashing import StreamHasher
from .access import RegistryAccess
from .client import RegistryClient
from .manifest import DISK_MEDIA_TYPES, Descriptor
from .reference import Reference, is_oci_uri, parse_reference

__all__ = ["LayerHasher", "RegistryBlobs", "hasher_for", "is_oci_uri"]


class LayerHasher(StreamHasher):
    """SHA-512 and SHA-256 of one stream, each in its own helper thread."""

    def __init__(self) -> None:
        super().__init__("sha512")
        self.sha256 = StreamHasher("sha256")

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        super().update(data)

    def submit(self, data: memoryview) -> threading.Event:
        """As update, on a copy: two threads read the bytes (the caller may reuse its buffer)."""
        self.update(bytes(data))
        done = threading.Event()
        done.set()
        return done

    def _drain(self) -> None:
        self.sha256._drain()
        super()._drain()

    def close(self) -> None:
        self.sha256.close()
        super().close()


def hasher_for(uri: str) -> StreamHasher:
    """The hasher of a download of ``uri``: SHA-512, plus SHA-256 for an ``oci://`` layer."""
    return LayerHasher() if is_oci_uri(uri) else StreamHasher()


class RegistryBlobs:
    """Opens the disk layers of pinned ``oci://`` images; one client per registry, shared."""

    def __init__(
        self,
        access: RegistryAccess,
        *,
        adapter: HTTPAdapter | None = None,
        media_types: tuple[str, ...] = DISK_MEDIA_TYPES,
    ) -> None:
        self.access = access
        self.adapter = adapter
        self.media_types = media_types
        self._lock = threading.Lock()
        self._clients: dict[str, RegistryClient] = {}
        self._layers: dict[str, Descriptor] = {}

    def client(self, registry: str) -> RegistryClient:
        with self._lock:
            client = self._clients.get(registry)
            if client is None:
                client = RegistryClient(registry, self.access, adapter=self.adapter)
                self._clients[registry] = client
            return client

    def layer(self, uri: str, size: int) -> tuple[Reference, Descriptor]:
        """The verified disk-layer descriptor of the pinned image ``uri`` of ``size`` bytes."""
        reference = parse_reference(uri, require_digest=True)
        with self._lock:
            known = self._layers.get(uri)
        if known is None:
            assert reference.digest is not None
            manifest = self.client(reference.registry).get_manifest(
                reference.repository, reference.digest
            )
            known = manifest.disk_layer(self.media_types)
            with self._lock:
                self._layers[uri] = known
        if known.size != size:
            raise OciManifestError(
                f"the disk layer of {reference.digest} is {known.size} bytes, "
                f"the list says {size} (hv:size)"
            )
        return reference, known

    def open(
        self,
        uri: str,
        size: int,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> requests.Response:
        """GET the disk layer of ``uri`` (``headers``: Range, If-Range) for streaming."""
        reference, layer = self.layer(uri, size)
        return self.client(reference.registry).open_blob(
            reference.repository, layer.digest, headers, timeout
        )

    def check(self, uri: str, size: int, hasher: StreamHasher) -> OciBlobError | None:
        """None if what ``hasher`` saw has the layer's sha256, else the error to raise."""
        if not isinstance(hasher, LayerHasher):
            return OciBlobError(f"{uri}: the layer was not hashed with sha256")
        _reference, layer = self.layer(uri, size)
        got = hasher.sha256.hexdigest()
        if got == layer.hex:
            return None
        return OciBlobError(
            f"the registry's blob {layer.digest} is corrupt: its bytes hash to sha256:{got} "
            "(the file was deleted)"
        )

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
