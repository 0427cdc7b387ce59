"""Durable file replacement, shared by the cache, the event outbox, the publisher and the CLIs.

A file is replaced by writing a temporary file beside it (a dot name, so cache directories
treat it as their own), fsyncing it, renaming it over the target, then fsyncing the directory.
Errors are plain OSError; each caller turns them into its own one-line error.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["fsync_directory", "replace_atomically"]


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
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        with os.fdopen(os.open(temporary, flags, mode), "w", encoding="utf-8") as handle:
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
