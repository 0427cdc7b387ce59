"""Read a file once, in big chunks, hashing it with SHA-512 (and copying it, for ``local``).

vmcaster 0.0.x hashed images by iterating over *lines* of a text-mode file (defect D19: a
"line" of a binary image can be gigabytes). Here the file is read in binary chunks, so memory
stays constant whatever the file size, and hashed by the package's one streaming hasher
(:class:`imagelist.hashing.StreamHasher`). When copying, the file is read in
:data:`CHUNK_SIZE` chunks into a ring of :data:`BUFFERS` reusable buffers; the SHA-512 of one
chunk runs in the hasher's thread (``hashlib`` releases the GIL) while this thread writes that
chunk and reads the next ones: the copy costs about the time of the hash alone. Chunks of 1 MiB
rather than 4 MiB stay in the CPU caches between the read, the hash and the write: the same copy
took about a quarter less CPU time (ADR 0027).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..hashing import StreamHasher, hash_descriptor

__all__ = [
    "BUFFERS",
    "CHUNK_SIZE",
    "WRITEBACK_LAG",
    "Digest",
    "ProgressCallback",
    "copy_hashing",
    "hash_file",
]

logger = logging.getLogger(__name__)

#: Bytes read per system call (small enough to stay in the CPU caches while hashed and written).
CHUNK_SIZE = 1024 * 1024
#: Buffers of a copy: the hasher may be this many chunks behind the reads and writes.
BUFFERS = 4
#: How far behind the last write the writeback of a copy's target is started.
WRITEBACK_LAG = 8 * CHUNK_SIZE
#: Called with the number of bytes done so far (the CLI draws a progress line with it).
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class Digest:
    """Size in bytes and lower-case hex SHA-512 of a byte stream."""

    size: int
    sha512: str


def _advise_sequential(fd: int) -> None:
    with contextlib.suppress(AttributeError, OSError):  # not on every platform/filesystem
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)


def _start_writeback(fd: int, offset: int, length: int) -> bool:
    """Ask the kernel to write back (and then drop) an already written range of ``fd``.

    On Linux ``POSIX_FADV_DONTNEED`` starts writeback of dirty pages without waiting, so the
    final ``fsync`` of a big copy has little left to do. Returns False where unsupported.
    """
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    except (AttributeError, OSError):
        return False
    return True


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def hash_file(path: Path, progress: ProgressCallback | None = None) -> Digest:
    """SHA-512 and size of ``path``, read once in binary chunks."""
    with path.open("rb", buffering=0) as stream:
        _advise_sequential(stream.fileno())
        hasher = hash_descriptor(stream.fileno(), path, progress=progress)
    return Digest(hasher.size, hasher.hexdigest())


def copy_hashing(source: Path, target_fd: int, progress: ProgressCallback | None = None) -> Digest:
    """Copy ``source`` to the open file descriptor ``target_fd``; return what was copied.

    One pass over the source: each chunk is read once, then hashed (the hasher's thread) and
    written (this thread) at the same time. The digest is of exactly the bytes written.
    Memory is :data:`BUFFERS` chunks, whatever the file size. Writeback of the target starts
    :data:`WRITEBACK_LAG` behind the writes, so a later ``fsync`` is quick.
    """
    hasher = StreamHasher()
    buffers = [memoryview(bytearray(CHUNK_SIZE)) for _ in range(BUFFERS)]
    pending: list[threading.Event | None] = [None] * BUFFERS
    size = 0
    writeback = True
    try:
        with source.open("rb", buffering=0) as stream:
            _advise_sequential(stream.fileno())
            index = 0
            while True:
                # A buffer is read into again only once the hash of what it held is done.
                done = pending[index]
                if done is not None:
                    done.wait()
                chunk = buffers[index]
                count = stream.readinto(chunk)
                if not count:
                    break
                data = chunk[:count]
                pending[index] = hasher.submit(data)
                _write_all(target_fd, data)
                if writeback and size >= WRITEBACK_LAG:
                    writeback = _start_writeback(target_fd, size - WRITEBACK_LAG, CHUNK_SIZE)
                size += count
                if progress is not None:
                    progress(size)
                index = (index + 1) % BUFFERS
    finally:
        hasher.close()
    return Digest(size, hasher.hexdigest())
