"""One ``vmcatcher_cache`` run at a time per cache directory.

An advisory ``flock`` on ``<cache>/.vmcatcher_cache.lock``: the kernel drops it when the process
ends, even after ``kill -9``, so a crashed run never leaves a stale lock. The file holds the pid
of the holder, for the message the second run prints. It is never deleted (deleting a lock file
lets two processes lock two different files).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from pathlib import Path
from types import TracebackType

from ..errors import CacheError

__all__ = ["LOCK_NAME", "CacheLock"]

LOCK_NAME = ".vmcatcher_cache.lock"


class CacheLock:
    """The lock of one cache directory; use :meth:`acquire` then :meth:`release` (or ``with``)."""

    def __init__(self, directory: Path, *, poll: float = 0.2) -> None:
        self.path = directory / LOCK_NAME
        self.poll = poll
        self._descriptor: int | None = None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock, waiting up to ``wait`` seconds; False if another run still holds it."""
        try:
            # Never through a link planted under the name: the pid write would truncate its target.
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            descriptor = os.open(self.path, flags, 0o640)
        except OSError as exc:
            raise CacheError(f"cannot open lock file {self.path}: {exc.strerror}") from None
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            os.close(descriptor)
            raise CacheError(f"lock file {self.path} is not a regular file with one link; not used")
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(descriptor)
                    return False
                time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())) or self.poll)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._descriptor = descriptor
        return True

    def holder(self) -> str:
        """The pid written by the holder, or "unknown"."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return "unknown"
        return text if text.isdigit() else "unknown"

    def release(self) -> None:
        """Let the next run in."""
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> CacheLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
