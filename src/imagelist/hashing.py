"""SHA-512 of files and streams, hashed in a helper thread so that hashing overlaps the I/O.

The one streaming hasher of the package: the cache (downloads, ``-s`` checks), the backends
(the cached file checked before an upload) and the publisher (``--upload-image``: the image
hashed, or hashed while it is copied, :mod:`imagelist.publisher.streaming`).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import DownloadError

__all__ = ["CHUNK", "StreamHasher", "hash_descriptor"]

#: Bytes read at a time.
CHUNK = 256 * 1024
_QUEUE_DEPTH = 8


class StreamHasher:
    """SHA-512 of a stream, computed in a helper thread so that it overlaps the I/O."""

    def __init__(self, algorithm: str = "sha512") -> None:
        self._hash = hashlib.new(algorithm)
        self._queue: queue.Queue[tuple[bytes | memoryview, threading.Event | None] | None]
        self._queue = queue.Queue(_QUEUE_DEPTH)
        self._thread: threading.Thread | None = None
        self.size = 0

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            data, done = item
            self._hash.update(data)
            if done is not None:
                done.set()

    def _put(self, data: bytes | memoryview, done: threading.Event | None) -> None:
        self.size += len(data)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._hash.name, daemon=True)
            self._thread.start()
        self._queue.put((data, done))

    def update(self, data: bytes) -> None:
        """Add bytes (hashed in order, in the background)."""
        self._put(data, None)

    def submit(self, data: memoryview) -> threading.Event:
        """Add the bytes of a buffer the caller will reuse: it may once the event is set."""
        done = threading.Event()
        self._put(data, done)
        return done

    def _drain(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def hexdigest(self) -> str:
        """The digest of everything added so far (waits for the helper)."""
        self._drain()
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the helper thread."""
        self._drain()


def hash_descriptor(
    descriptor: int,
    path: Path | str,
    hasher: StreamHasher | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> StreamHasher:
    """Hash an open file from its start (reading and hashing overlap); raises OSError.

    ``progress`` is called with the bytes read so far after each chunk.
    """
    hasher = hasher or StreamHasher()
    offset = 0
    try:
        while chunk := os.pread(descriptor, CHUNK, offset):
            if cancel is not None and cancel.is_set():
                raise DownloadError(f"hashing {path} was interrupted")
            hasher.update(chunk)
            offset += len(chunk)
            if progress is not None:
                progress(offset)
    finally:
        hasher._drain()
    return hasher
