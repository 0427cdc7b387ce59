"""File safety of the cache: never write through a link, never leave the cache's directories.

The three directories (``cache/``, ``partial/``, ``expired/``) are trusted as the administrator
configured them; nothing *inside* them is. Whoever can write there (a handler running as another
user, a group-writable directory) could plant a symbolic link, a hard link, a directory or a FIFO
under an image's name, or an index key such as ``../../x``. The rules (ADR 0010):

* A name is only turned into a path after :func:`safe_name` accepted it: a safe image id
  (:func:`imagelist.document.is_safe_identifier`), optionally followed by the ``.<time>`` of an
  expired file. So no ``/``, no ``..``, no leading dot (dot names are the cache's own).
* Every file the cache reads, writes, moves or deletes must be a regular file with one link
  (:func:`check_entry`, with ``lstat``). Anything else under a name the cache uses is moved to
  ``<directory>/.quarantine/`` with one warning (:func:`quarantine`): never followed, never
  deleted, never written to. A hard-linked file is quarantined too, because its other name may be
  outside the cache and moving, truncating or appending would change that file.
* Partial files are opened with ``O_NOFOLLOW`` and created with ``O_EXCL``
  (:func:`open_partial`); the opened file is checked again with ``fstat``.
* Renames are between two checked names of the managed directories (:func:`safe_move`); a rename
  never follows a link in its last component, and a copy across filesystems opens its source
  with ``O_NOFOLLOW`` and its temporary file with ``O_EXCL``.
* New directories get mode 0750 and new files 0640 (:class:`Modes`), the process umask applying
  on top, unless configured otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from ..document import is_safe_identifier
from ..errors import CacheError
from ..fileio import create_exclusive, fsync_directory, open_regular

__all__ = [
    "DEFAULT_DIR_MODE",
    "DEFAULT_FILE_MODE",
    "QUARANTINE_NAME",
    "Modes",
    "check_entry",
    "make_directory",
    "open_nofollow",
    "open_partial",
    "quarantine",
    "quarantine_place",
    "safe_move",
    "safe_name",
    "usable",
]

logger = logging.getLogger(__name__)

DEFAULT_DIR_MODE = 0o750
DEFAULT_FILE_MODE = 0o640
#: Inside each managed directory: what the cache refused to follow or use, kept for the admin.
QUARANTINE_NAME = ".quarantine"
_EXPIRED_SUFFIX = re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}")
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Modes:
    """Permission bits of what the cache creates (the umask applies on top)."""

    directory: int = DEFAULT_DIR_MODE
    file: int = DEFAULT_FILE_MODE


def safe_name(name: object) -> bool:
    """Whether ``name`` may name a file of the cache: ``<id>`` or ``<id>.<YYYY-MM-DD_HH-MM-SS>``."""
    if not isinstance(name, str):
        return False
    if is_safe_identifier(name):
        return True
    base, dot, suffix = name.rpartition(".")
    return bool(dot) and is_safe_identifier(base) and _EXPIRED_SUFFIX.fullmatch(suffix) is not None


def check_entry(path: Path) -> str | None:
    """None if ``path`` is missing or a regular file with one link; else what it is instead."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link"
    if stat.S_ISDIR(info.st_mode):
        return "a directory"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_nlink > 1:
        return f"a file with {info.st_nlink} hard links"
    return None


def make_directory(path: Path, mode: int) -> None:
    """Create ``path`` and its missing parents with ``mode``; an existing one is left as it is."""
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, mode)


def quarantine_place(directory: Path, modes: Modes) -> Path:
    """``directory/.quarantine``, made a real directory if something else has the name."""
    place = directory / QUARANTINE_NAME
    try:
        info = os.lstat(place)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        logger.warning("%s is not a directory; replaced", place)
        os.unlink(place)  # a link or a file under the cache's own name: the name only goes
        info = None
    if info is None:
        os.mkdir(place, modes.directory & 0o770)
    return place


def quarantine(directory: Path, name: str, reason: str, modes: Modes | None = None) -> Path:
    """Move ``directory/name`` (whatever it is, not followed) into ``directory/.quarantine``."""
    modes = modes or Modes()
    try:
        place = quarantine_place(directory, modes)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        base = name[:200] if safe_name(name) else "unsafe-name"
        target = place / f"{base}.{stamp}"
        count = 0
        while os.path.lexists(target):
            count += 1
            target = place / f"{base}.{stamp}.{count}"
        os.rename(directory / name, target)  # renames the link itself, never its target
        fsync_directory(directory)
    except OSError as exc:
        raise CacheError(
            f"{_shown(directory, name)} is {reason} and cannot be quarantined: "
            f"{exc.strerror or exc}"
        ) from None
    logger.warning(
        "%s is %s; not followed, moved to %s",
        _shown(directory, name),
        reason,
        target.relative_to(directory),
    )
    return target


def _shown(directory: Path, name: str) -> str:
    """``directory/name`` for a one-line message (an unsafe name is quoted and cut)."""
    return str(directory / name) if safe_name(name) else f"{directory}/{name[:80]!r}"


def usable(directory: Path, name: str, modes: Modes | None = None) -> bool:
    """True if ``directory/name`` is a regular file with one link; anything else is quarantined."""
    problem = check_entry(directory / name)
    if problem is None:
        return os.path.lexists(directory / name)
    quarantine(directory, name, problem, modes)
    return False


def open_nofollow(path: Path) -> int:
    """Open a file of the cache for reading: never through a link, only a regular file."""
    return open_regular(path, one_link=True)[0]


def open_partial(directory: Path, name: str, modes: Modes | None = None) -> int:
    """Open ``directory/name`` read-write to resume it, or create it (``O_EXCL``).

    Never through a link: a link, a hard-linked file or another type under the name is
    quarantined first, and the opened file is checked again (the name may change meanwhile).
    """
    modes = modes or Modes()
    if not safe_name(name):
        raise CacheError(f"refusing the unsafe file name {name!r} in {directory}")
    path = directory / name
    for _attempt in range(3):
        problem = check_entry(path)
        if problem is not None:
            quarantine(directory, name, problem, modes)
        try:
            descriptor = os.open(path, os.O_RDWR | _NOFOLLOW)
        except FileNotFoundError:
            try:
                return create_exclusive(path, modes.file, read=True)
            except FileExistsError:
                continue  # created by someone meanwhile: check it again
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                continue  # swapped for a link or another type after the check
            raise
        info = os.fstat(descriptor)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            return descriptor
        os.close(descriptor)
    raise CacheError(f"{path} keeps changing under the cache; not used")


def _copy_across(source: Path, destination: Path, modes: Modes) -> None:
    """Copy ``source`` (not followed) to ``destination`` through an exclusive temporary file."""
    temporary = destination.with_name(f".{destination.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)  # a leftover or planted name: only the name goes
    reader = open_nofollow(source)
    try:
        writer = create_exclusive(temporary, modes.file)
        try:
            while chunk := os.read(reader, 1024 * 1024):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(writer, view) :]
            os.fsync(writer)
        finally:
            os.close(writer)
        os.rename(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    finally:
        os.close(reader)
    fsync_directory(destination.parent)
    os.unlink(source)


def safe_move(
    source_dir: Path, source: str, destination_dir: Path, destination: str, modes: Modes
) -> None:
    """Rename ``source_dir/source`` to ``destination_dir/destination`` durably, inside the cache.

    Both names must be safe; the source must be a regular file with one link (else CacheError);
    something that is not a regular file under the destination name is quarantined first.
    Across filesystems the file is copied, fsynced and renamed.
    """
    for name in (source, destination):
        if not safe_name(name):
            raise CacheError(f"refusing the unsafe file name {name!r}")
    source_path, destination_path = source_dir / source, destination_dir / destination
    problem = check_entry(source_path)
    if problem is not None:
        raise CacheError(f"cannot move {source_path}: it is {problem}")
    problem = check_entry(destination_path)
    if problem is not None:
        quarantine(destination_dir, destination, problem, modes)
    try:
        os.rename(source_path, destination_path)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise CacheError(
                f"cannot move {source_path} to {destination_path}: {exc.strerror or exc}"
            ) from None
        try:
            _copy_across(source_path, destination_path, modes)
        except OSError as copy_error:
            raise CacheError(
                f"cannot copy {source_path} to {destination_path}: "
                f"{copy_error.strerror or copy_error}"
            ) from None
    fsync_directory(destination_dir)
    if source_dir != destination_dir:
        fsync_directory(source_dir)
