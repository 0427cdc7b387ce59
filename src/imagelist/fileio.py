"""Safe file opening and durable replacement, shared by the cache, the event outbox, the
publisher, the backends, the databases and the CLIs.

* :func:`open_regular`: the one way to open a file for reading that must be a regular file:
  without blocking (a FIFO would wait for a writer), by default never through a symbolic link
  (``O_NOFOLLOW``), checked on the open descriptor (optionally: no other hard links);
  :func:`read_bounded` reads at most a given number of bytes from it.
* :func:`create_exclusive`: the one way to create a file: afresh (``O_EXCL``), never through a
  link planted under its name (``O_NOFOLLOW``).
* :func:`replace_atomically`: a file is replaced by writing a temporary file beside it (a dot
  name, so cache directories treat it as their own), fsyncing it, renaming it over the target,
  then fsyncing the directory.

Errors are OSError; each caller turns them into its own one-line error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

__all__ = [
    "FileTooLargeError",
    "NotRegularFileError",
    "create_exclusive",
    "fsync_directory",
    "link_new",
    "open_regular",
    "read_bounded",
    "replace_atomically",
]

T = TypeVar("T")

_CREATE = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class NotRegularFileError(OSError):
    """The name is not a regular file (or, when asked, the file has other hard links)."""


class FileTooLargeError(OSError):
    """The file is larger than the caller accepts."""


def open_regular(
    path: Path | str,
    *,
    dir_fd: int | None = None,
    follow_links: bool = False,
    one_link: bool = False,
) -> tuple[int, os.stat_result]:
    """Open a regular file for reading: (descriptor, its fstat).

    Never blocks (``O_NONBLOCK``: a FIFO is opened, then refused); a symbolic link is refused
    with ``ELOOP`` ("it is a symbolic link") unless ``follow_links``; anything but a regular
    file (and, with ``one_link``, a file with other hard links) is :class:`NotRegularFileError`.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        descriptor = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise OSError(errno.ELOOP, "it is a symbolic link") from None
        raise
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or (one_link and info.st_nlink > 1):
        os.close(descriptor)
        what = "a regular file with one link" if one_link else "a regular file"
        raise NotRegularFileError(errno.EPERM, f"it is not {what}")
    return descriptor, info


def read_bounded(
    path: Path | str, limit: int, *, follow_links: bool = False
) -> tuple[bytes, os.stat_result]:
    """(content, fstat) of the regular file ``path``: at most ``limit`` bytes, else
    :class:`FileTooLargeError` (checked on the size, then on what was read)."""
    descriptor, info = open_regular(path, follow_links=follow_links)
    with os.fdopen(descriptor, "rb") as handle:
        if info.st_size > limit:
            raise FileTooLargeError(errno.EFBIG, f"larger than {limit} bytes")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(errno.EFBIG, f"larger than {limit} bytes")
    return data, info


def create_exclusive(
    path: Path | str, mode: int, *, dir_fd: int | None = None, read: bool = False
) -> int:
    """Create ``path`` afresh (``O_EXCL``, never through a link) with ``mode`` (the umask
    applies on top); the descriptor is write-only, or read-write with ``read``."""
    access = os.O_RDWR if read else os.O_WRONLY
    return os.open(path, access | _CREATE, mode, dir_fd=dir_fd)


def link_new(path: Path, write: Callable[[IO[bytes]], T], *, mode: int = 0o666) -> T:
    """Make ``path``, a new name, with what ``write`` writes; its result is returned.

    The bytes go to a temporary file beside ``path`` (created afresh, never through a link),
    are made durable, and only then is the file linked to ``path``: a reader sees no file or a
    whole one, a failure leaves nothing, and an existing name or link at ``path`` is never
    written over (``FileExistsError``; of processes racing for the name, the first link wins).
    """
    temporary = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    with contextlib.suppress(OSError):
        os.unlink(temporary)  # a leftover (or planted) name: only the name goes, never a target
    try:
        with os.fdopen(create_exclusive(temporary, mode), "wb") as handle:
            result = write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path, follow_symlinks=False)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return result


def fsync_directory(path: Path) -> None:
    """Make a rename or creation in the directory ``path`` durable."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_atomically(
    path: Path, data: bytes | Callable[[IO[str]], None], *, mode: int = 0o666
) -> None:
    """Replace ``path`` with ``data`` (bytes, or a function writing text to a file), durably.

    Readers see the old content or the new, never a mix; on error the old file is untouched and
    the temporary file is removed. The temporary file is created afresh (``O_EXCL``, never
    through a link planted under its name) with ``mode`` (the umask applies on top).
    """
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)  # a leftover (or planted) name: only the name goes, never a target
    try:
        with os.fdopen(create_exclusive(temporary, mode), "w", encoding="utf-8") as handle:
            if callable(data):
                data(handle)
            else:
                handle.buffer.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_directory(path.parent)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
