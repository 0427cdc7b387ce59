"""The published files under ``<data dir>/store``: written atomically, never through a link.

Every directory below the store root is opened one component at a time with ``O_NOFOLLOW |
O_DIRECTORY`` relative to its parent's descriptor, so a symbolic link planted anywhere below the
root (``store/vo/ops`` -> ``/etc``) is refused rather than followed. A file is written to a fresh
``O_EXCL`` temporary name in its directory, fsynced, and renamed over its name with
``os.replace`` (the rename replaces a link planted under the name, never its target). Any
static web server pointed at the store root can serve what is there.

Only names that :func:`safe_component` accepts become path components: no ``/``, no ``..``, no
leading dot (dot names are this module's temporary files), so no request and no slug leaves the
root.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import MarketPublishError

__all__ = [
    "FILE_MODE",
    "StoreDirectory",
    "StoredFile",
    "safe_component",
]

FILE_MODE = 0o644
DIR_MODE = 0o755
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_READ = 256 * 1024 * 1024


def safe_component(name: str) -> bool:
    """Whether ``name`` may be one path component under the store (no ``/``, ``..``, dot name)."""
    return _COMPONENT.fullmatch(name) is not None and ".." not in name


@dataclass(frozen=True)
class StoredFile:
    """A file read back from the store: its bytes and the modification time of the open file."""

    data: bytes
    mtime: float
    #: (device, inode, size, mtime in ns) of the file read.
    stamp: tuple[int, int, int, int]


class StoreDirectory:
    """The store root; :meth:`write` and :meth:`read` take paths as sequences of components."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _check(self, parts: Sequence[str]) -> None:
        for part in parts:
            if not safe_component(part):
                raise MarketPublishError(f"unsafe name {part!r} in store path")

    @contextlib.contextmanager
    def _directory(self, parts: Sequence[str], *, create: bool) -> Iterator[int]:
        """A descriptor of ``root/parts...``, each component opened without following links."""
        self._check(parts)
        if create:
            with contextlib.suppress(FileExistsError):
                os.makedirs(self.root, mode=DIR_MODE)
        try:
            fd = os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            raise MarketPublishError(f"cannot open store {self.root}: {exc.strerror}") from None
        try:
            for part in parts:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, DIR_MODE, dir_fd=fd)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    reason = (
                        "a symbolic link or not a directory"
                        if exc.errno in (errno.ELOOP, errno.ENOTDIR)
                        else exc.strerror
                    )
                    shown = "/".join(parts)
                    raise MarketPublishError(
                        f"cannot open {shown} in store {self.root}: {reason}"
                    ) from None
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def write(self, directory: Sequence[str], files: Mapping[str, bytes]) -> None:
        """Replace each ``name: data`` of ``files`` in ``directory``, atomically, in order."""
        self._check(list(files))
        with self._directory(directory, create=True) as fd:
            for name, data in files.items():
                _replace(fd, name, data)
            if files:
                with contextlib.suppress(OSError):
                    os.fsync(fd)

    @contextlib.contextmanager
    def locked(self, directory: Sequence[str]) -> Iterator[None]:
        """Hold an exclusive ``flock`` on ``directory`` (created if missing) meanwhile."""
        with self._directory(directory, create=True) as fd:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield

    def remove(self, directory: Sequence[str], name: str) -> None:
        """Remove the name ``name`` in ``directory`` if it is there (a link: the link only)."""
        self._check([name])
        try:
            with (
                self._directory(directory, create=False) as fd,
                contextlib.suppress(FileNotFoundError),
            ):
                os.unlink(name, dir_fd=fd)
        except OSError as exc:
            raise MarketPublishError(f"cannot remove {name}: {exc.strerror}") from None

    def read(self, path: Sequence[str]) -> StoredFile | None:
        """The regular file at ``path`` (None if missing, a link, or not a regular file)."""
        if not path:
            return None
        try:
            with self._directory(path[:-1], create=False) as fd:
                self._check(path[-1:])
                try:
                    file_fd = os.open(
                        path[-1],
                        os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                        dir_fd=fd,
                    )
                except OSError:
                    return None
                info = os.fstat(file_fd)
                if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_READ:
                    os.close(file_fd)
                    return None
                with os.fdopen(file_fd, "rb") as handle:
                    data = handle.read(_MAX_READ + 1)
                return StoredFile(
                    data,
                    info.st_mtime,
                    (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns),
                )
        except MarketPublishError:
            return None

    def stat(self, path: Sequence[str]) -> os.stat_result | None:
        """``lstat`` of ``path`` through link-refusing directory descriptors, or None."""
        if not path:
            return None
        try:
            with self._directory(path[:-1], create=False) as fd:
                self._check(path[-1:])
                info = os.stat(path[-1], dir_fd=fd, follow_symlinks=False)
        except (MarketPublishError, OSError):
            return None
        return info if stat.S_ISREG(info.st_mode) else None


def _replace(fd: int, name: str, data: bytes) -> None:
    temporary = f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        file_fd = os.open(temporary, flags, FILE_MODE, dir_fd=fd)
    except OSError as exc:
        raise MarketPublishError(f"cannot create a file beside {name}: {exc.strerror}") from None
    try:
        with os.fdopen(file_fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        info = os.stat(name, dir_fd=fd, follow_symlinks=False) if _exists(fd, name) else None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise MarketPublishError(f"cannot publish {name}: a directory is in the way")
        os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=fd)
        raise MarketPublishError(f"cannot write {name}: {exc.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=fd)
        raise


def _exists(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
