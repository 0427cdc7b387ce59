"""Read a file once, in big chunks, hashing it with SHA-512 (and copying it, for ``local``).

vmcaster 0.0.x hashed images by iterating over *lines* of a text-mode file (defect D19: a
"line" of a binary image can be gigabytes). Here the file is read in :data:`CHUNK_SIZE` chunks
into two reusable buffers, so memory stays constant whatever the file size. When copying, the
SHA-512 of one chunk runs in a worker thread (``hashlib`` releases the GIL) while the main
thread writes that chunk and reads the next: the copy costs about the time of the hash alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHUNK_SIZE", "WRITEBACK_LAG", "Digest", "ProgressCallback", "copy_hashing", "hash_file"]

logger = logging.getLogger(__name__)

#: Bytes read per system call.
CHUNK_SIZE = 4 * 1024 * 1024
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
    sha = hashlib.sha512()
    buffer = memoryview(bytearray(CHUNK_SIZE))
    size = 0
    with path.open("rb", buffering=0) as stream:
        _advise_sequential(stream.fileno())
        while count := stream.readinto(buffer):
            sha.update(buffer[:count])
            size += count
            if progress is not None:
                progress(size)
    return Digest(size, sha.hexdigest())


def copy_hashing(source: Path, target_fd: int, progress: ProgressCallback | None = None) -> Digest:
    """Copy ``source`` to the open file descriptor ``target_fd``; return what was copied.

    One pass over the source: each chunk is read once, then hashed (worker thread) and written
    (this thread) at the same time. The digest is of exactly the bytes written. Writeback of
    the target starts :data:`WRITEBACK_LAG` behind the writes, so a later ``fsync`` is quick.
    """
    sha = hashlib.sha512()
    buffers = (memoryview(bytearray(CHUNK_SIZE)), memoryview(bytearray(CHUNK_SIZE)))
    size = 0
    pending: Future[None] | None = None
    writeback = True
    with (
        source.open("rb", buffering=0) as stream,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha512") as hasher,
    ):
        _advise_sequential(stream.fileno())
        index = 0
        try:
            while True:
                # The buffer read into now was last hashed two rounds ago: that hash is done.
                chunk = buffers[index]
                count = stream.readinto(chunk)
                if pending is not None:
                    pending.result()
                    pending = None
                if not count:
                    break
                data = chunk[:count]
                pending = hasher.submit(sha.update, data)
                _write_all(target_fd, data)
                if writeback and size >= WRITEBACK_LAG:
                    writeback = _start_writeback(target_fd, size - WRITEBACK_LAG, CHUNK_SIZE)
                size += count
                if progress is not None:
                    progress(size)
                index ^= 1
        finally:
            if pending is not None:
                pending.result()
    return Digest(size, sha.hexdigest())
