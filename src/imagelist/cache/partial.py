"""The partial file of one download, and the free space it needs.

A download writes ``partial/<id>`` opened without following links (:func:`.safefs.open_partial`)
and hashes exactly the bytes that reached it; an existing partial file is hashed first, so the
download resumes after it. ENOSPC/EFBIG/EDQUOT end the download with :class:`DiskSpaceError`
and keep the file for the next run.
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

__all__ = ["PartialFile", "free_space", "hash_file"]

logger = logging.getLogger(__name__)

_FADVISE_STEP = 32 * 1024 * 1024
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
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.offset = self.flushed = 0

    def write(self, data: bytes) -> None:
        """Append ``data`` and hash exactly what reached the file."""
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.write(self.fd, view[written:])
        except OSError as exc:
            if written:
                self.hasher.update(bytes(view[:written]))
                self.offset += written
            if exc.errno in _DISK_FULL:
                raise DiskSpaceError(
                    f"cannot write {self.job.path} after {self.offset} bytes: {exc.strerror} "
                    "(partial file kept)"
                ) from None
            raise CacheError(f"cannot write {self.job.path}: {exc.strerror}") from None
        self.hasher.update(data)
        self.offset += written
        if self.offset - self.flushed >= 2 * _FADVISE_STEP and hasattr(os, "posix_fadvise"):
            # Start write-back early (so the final fsync is short) and keep the page cache for
            # the images, not for a file nobody reads again soon.
            os.posix_fadvise(self.fd, self.flushed, _FADVISE_STEP, os.POSIX_FADV_DONTNEED)
            self.flushed += _FADVISE_STEP

    def finish(self) -> None:
        """fsync and close: the caller may now move the file."""
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
