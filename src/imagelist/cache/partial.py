"""The partial file of one download, and the free space it needs.

A download writes ``partial/<id>`` opened without following links (:func:`.safefs.open_partial`)
and hashes exactly the bytes that reached it; an existing partial file is hashed first, so the
download resumes after it. ENOSPC/EFBIG/EDQUOT end the download with :class:`DiskSpaceError`
and keep the file for the next run.

The bytes are received into a ring of :data:`RING` reusable buffers of :data:`PIECE` bytes
(:meth:`PartialFile.reserve`, then :meth:`PartialFile.commit`): each piece is written at once
(what arrived is on disk, for progress and resuming), and each full buffer goes to the hashing
thread in one piece, so memory stays constant and the hasher gets large updates that are still
in the CPU caches (ADR 0027).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from pathlib import Path

from ..errors import CacheError, DiskSpaceError
from ..hashing import StreamHasher, hash_descriptor
from ..oci.blobs import hasher_for
from .jobs import DownloadJob
from .safefs import Modes, open_nofollow, open_partial

__all__ = ["PIECE", "RING", "PartialFile", "free_space", "hash_file"]

logger = logging.getLogger(__name__)

_FADVISE_STEP = 32 * 1024 * 1024
#: Bytes of one receive buffer, hashed in one update when full.
PIECE = 1024 * 1024
#: Receive buffers of a download: the hasher may be this many pieces behind.
RING = 3
_DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def hash_file(
    path: Path, *, hasher: StreamHasher | None = None, cancel: threading.Event | None = None
) -> StreamHasher:
    """Hash a whole file (reading and hashing overlap); raises OSError."""
    with os.fdopen(open_nofollow(path), "rb", buffering=0) as handle:
        return hash_descriptor(handle.fileno(), path, hasher, cancel)


def free_space(directory: Path) -> int:
    """Bytes available to us in ``directory``'s filesystem."""
    info = os.statvfs(directory)
    return info.f_bavail * info.f_frsize


class PartialFile:
    """The partial file of one download and the hash of the bytes in it."""

    def __init__(self, job: DownloadJob, cancel: threading.Event) -> None:
        self.job = job
        try:
            self.fd = open_partial(job.path.parent, job.path.name, Modes(file=job.file_mode))
        except OSError as exc:
            raise CacheError(f"cannot open {job.path}: {exc.strerror}") from None
        self.hasher = hasher_for(job.uri)
        self.offset = 0
        self.flushed = 0
        self._ring = [memoryview(bytearray(PIECE)) for _ in range(RING)]
        self._pending: list[threading.Event | None] = [None] * RING
        self._index = 0
        #: Bytes of the current buffer written but not yet handed to the hasher.
        self._fill = 0
        #: ``If-Range`` value: the server's validator for the bytes in the file.
        self.validator: str | None = None
        length = os.fstat(self.fd).st_size
        if length > job.size:
            logger.warning("%s: partial file longer than hv:size; starting over", job.identifier)
            os.ftruncate(self.fd, 0)
        elif length:
            try:
                hash_descriptor(self.fd, job.path, self.hasher, cancel)
            except BaseException:
                self.close()
                raise
            self.offset = self.hasher.size
            os.lseek(self.fd, self.offset, os.SEEK_SET)
            logger.info("%s: resuming after %d bytes", job.identifier, self.offset)
        self.resumed_from = self.offset

    def reset(self) -> None:
        """Empty the file and the hash."""
        self.validator = None
        self.hasher.close()
        self.hasher = hasher_for(self.job.uri)
        self._pending = [None] * RING
        self._fill = 0
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.offset = self.flushed = 0

    def reserve(self, limit: int) -> memoryview:
        """Room for at most ``limit`` more bytes (at least one): fill it, then :meth:`commit`."""
        if not self._fill:  # a buffer is reused once the hash of what it held is done
            done = self._pending[self._index]
            if done is not None:
                done.wait()
                self._pending[self._index] = None
        room = min(PIECE - self._fill, max(limit, 1))
        return self._ring[self._index][self._fill : self._fill + room]

    def commit(self, count: int) -> None:
        """Append ``count`` bytes of the last :meth:`reserve`; hash what reached the file."""
        view = self._ring[self._index][self._fill : self._fill + count]
        written = 0
        try:
            while written < count:
                written += os.write(self.fd, view[written:])
        except OSError as exc:
            self._fill += written
            self.offset += written
            self.settle()
            if exc.errno in _DISK_FULL:
                raise DiskSpaceError(
                    f"cannot write {self.job.path} after {self.offset} bytes: {exc.strerror} "
                    "(partial file kept)"
                ) from None
            raise CacheError(f"cannot write {self.job.path}: {exc.strerror}") from None
        self._fill += count
        self.offset += count
        if self._fill == PIECE:
            self.settle()
        if self.offset - self.flushed >= 2 * _FADVISE_STEP and hasattr(os, "posix_fadvise"):
            # Start write-back early (so the final fsync is short) and keep the page cache for
            # the images, not for a file nobody reads again soon.
            os.posix_fadvise(self.fd, self.flushed, _FADVISE_STEP, os.POSIX_FADV_DONTNEED)
            self.flushed += _FADVISE_STEP

    def write(self, data: bytes) -> None:
        """Append ``data`` and hash exactly what reached the file."""
        view = memoryview(data)
        while view:
            room = self.reserve(len(view))
            count = len(room)
            room[:] = view[:count]
            self.commit(count)
            view = view[count:]

    def settle(self) -> None:
        """Hand what was written to the hasher (before reading its digest)."""
        if self._fill:
            self._pending[self._index] = self.hasher.submit(self._ring[self._index][: self._fill])
            self._index = (self._index + 1) % RING
            self._fill = 0

    def finish(self) -> None:
        """fsync and close: the caller may now move the file."""
        self.settle()
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise CacheError(f"cannot fsync {self.job.path}: {exc.strerror}") from None
        finally:
            self.close()

    def close(self) -> None:
        """Close the file and stop the hasher."""
        self.hasher.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        """Close and delete the file (its content is not the image)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.job.path.unlink()
