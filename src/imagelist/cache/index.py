"""The cache's directories and their ``cache.index`` files (reference §2.6).

Each of ``cache/``, ``partial/`` and ``expired/`` holds image files and a ``cache.index``: a JSON
object (sorted keys, indent 4) from a key (the image id; ``<id>.<YYYY-MM-DD_HH-MM-SS>`` in
``expired/``) to the metadata of that file, whose ``filename`` names it. The keys of an entry
are vmcatcher 0.6's, so handlers and scripts that read the index keep working.

Unlike 0.6, every write is atomic (a temporary file, fsync, rename, fsync of the directory), so
a crash leaves either the old or the new index, never half of one. Names starting with ``.`` are
the cache's own (lock, journal, outbox, temporary files): no image id can start with one.

Nothing in an index is trusted to name a path: an entry whose key or ``filename`` is not a safe
name (:func:`.safefs.safe_name`; in ``cache/`` and ``partial/`` the ``filename`` must be the key)
is set aside when the index is read (:attr:`ManagedDirectory.rejected`), and the run moves it to
the directory's ``.quarantine/``. The index itself is read without following a link.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ..errors import CacheError, CacheIndexError
from ..fileio import fsync_directory, replace_atomically
from .safefs import (
    DEFAULT_FILE_MODE,
    Modes,
    check_entry,
    make_directory,
    open_nofollow,
    quarantine,
    quarantine_place,
    safe_name,
)

__all__ = [
    "EXPIRED_TIME_FORMAT",
    "INDEX_NAME",
    "ManagedDirectory",
    "atomic_write",
    "expired_name",
    "fsync_directory",
    "is_internal",
    "quarantine_strays",
]

logger = logging.getLogger(__name__)

INDEX_NAME = "cache.index"
#: ``expired/<uuid>.<time>``: local time, as vmcatcher 0.6 named them.
EXPIRED_TIME_FORMAT = "%Y-%m-%d_%H-%M-%S"

Entry = dict[str, Any]


def is_internal(name: str) -> bool:
    """Whether a file name is the cache's own (lock, journal, outbox, temporary files)."""
    return name.startswith(".") or name == INDEX_NAME


def atomic_write(
    path: Path, data: bytes | Callable[[IO[str]], None], mode: int = DEFAULT_FILE_MODE
) -> None:
    """Replace ``path`` with ``data`` durably (see :func:`imagelist.fileio.replace_atomically`)."""
    try:
        replace_atomically(path, data, mode=mode)
    except OSError as exc:
        raise CacheError(f"cannot write {path}: {exc.strerror or exc}") from None


def expired_name(identifier: str, when: datetime) -> str:
    """``<uuid>.<YYYY-MM-DD_HH-MM-SS>`` (local time, as 0.6)."""
    return f"{identifier}.{when.strftime(EXPIRED_TIME_FORMAT)}"


class ManagedDirectory:
    """One cache directory and its index; ``configured`` is the path as the admin wrote it."""

    def __init__(
        self,
        path: Path,
        configured: str | None = None,
        *,
        modes: Modes | None = None,
        expired: bool = False,
    ) -> None:
        self.path = path
        self.configured = configured if configured is not None else str(path)
        self.modes = modes or Modes()
        #: ``expired/``: file names carry a time and need not equal the image id.
        self.expired = expired
        self.entries: dict[str, Entry] = {}
        #: Entries of the index file whose key or filename is not a safe name (never used).
        self.rejected: dict[str, Any] = {}
        #: Held while an entry is changed or the index written (workers record resume data).
        self.lock = threading.RLock()

    @property
    def index_path(self) -> Path:
        """The ``cache.index`` file."""
        return self.path / INDEX_NAME

    def create(self) -> None:
        """Create the directory (and its parents) if missing; 0.6 refused to run instead."""
        try:
            make_directory(self.path, self.modes.directory)
        except OSError as exc:
            raise CacheError(f"cannot create directory {self.path}: {exc.strerror}") from None
        if not self.path.is_dir():
            raise CacheError(f"{self.path} is not a directory")

    def load(self) -> None:
        """Read the index; a missing one is empty, an unreadable one a CacheIndexError."""
        self.rejected = {}
        try:
            descriptor = open_nofollow(self.index_path)
        except FileNotFoundError:
            self.entries = {}
            return
        except OSError as exc:
            raise CacheIndexError(
                f"cannot read {self.index_path}: {exc.strerror} (not followed; left as it is)"
            ) from None
        with os.fdopen(descriptor, "rb") as handle:
            text = handle.read()
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CacheIndexError(f"{self.index_path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CacheIndexError(f"{self.index_path} is not a JSON object of entries")
        self.entries = {}
        for key, entry in data.items():
            if self._acceptable(key, entry):
                self.entries[key] = entry
            else:
                self.rejected[key] = entry

    def _acceptable(self, key: str, entry: object) -> bool:
        """A key and ``filename`` that name a file of this directory, and nothing else."""
        if not isinstance(entry, dict) or not safe_name(key):
            return False
        name = entry.get("filename") or key
        return safe_name(name) and (self.expired or name == key)

    def set_aside_rejected(self, when: datetime) -> None:
        """Move the :attr:`rejected` entries into ``.quarantine/`` (a JSON file) and save."""
        if not self.rejected:
            return
        place = quarantine_place(self.path, self.modes)
        name = f"{INDEX_NAME}.rejected-{when.strftime(EXPIRED_TIME_FORMAT)}-{os.getpid()}"
        data = json.dumps(self.rejected, sort_keys=True, indent=4).encode("utf-8")
        atomic_write(place / name, data, self.modes.file)
        for key in sorted(self.rejected):
            logger.warning(
                "%s: index entry %r names no file of the directory; not used, moved to %s/%s",
                self.index_path,
                key[:80],
                place.name,
                name,
            )
        self.rejected = {}
        self.save()

    def save(self) -> None:
        """Write the index atomically (sorted keys, indent 4, as 0.6)."""
        with self.lock:
            # json.dump writes piece by piece: the index (one signed list per entry, as 0.6)
            # is never held twice in memory.
            atomic_write(
                self.index_path,
                lambda out: json.dump(self.entries, out, sort_keys=True, indent=4),
                self.modes.file,
            )

    def file_of(self, key: str) -> Path:
        """The file of an entry (its ``filename``, else the key)."""
        entry = self.entries[key]
        return self.path / str(entry.get("filename") or key)

    def files(self) -> Iterator[str]:
        """Safe names of the regular files in the directory that are not the cache's own."""
        try:
            with os.scandir(self.path) as scan:
                for item in scan:
                    if (
                        not is_internal(item.name)
                        and safe_name(item.name)
                        and item.is_file(follow_symlinks=False)
                    ):
                        yield item.name
        except OSError as exc:
            raise CacheError(f"cannot list {self.path}: {exc.strerror}") from None

    def unreferenced(self) -> list[str]:
        """Files no entry's ``filename`` names, sorted."""
        known = {str(entry.get("filename") or key) for key, entry in self.entries.items()}
        return sorted(name for name in self.files() if name not in known)

    def temporary_files(self) -> list[Path]:
        """Leftover temporary files of an interrupted write (``.*.tmp-*``)."""
        try:
            return sorted(p for p in self.path.glob(".*.tmp-*") if p.is_symlink() or p.is_file())
        except OSError:  # pragma: no cover - the directory vanished meanwhile
            return []


def quarantine_strays(directories: Sequence[ManagedDirectory]) -> None:
    """Links, hard-linked files, other types and unsafe names: moved to ``.quarantine/``.

    A directory is only moved when an index entry names it (``partial/`` and ``expired/`` may live
    inside ``cache/``, and a mount point has ``lost+found``); the managed directories are skipped.
    Nothing is followed; only names move.
    """
    managed = {os.path.abspath(directory.path) for directory in directories}
    for directory in directories:
        try:
            names = sorted(os.listdir(directory.path))
        except OSError as exc:
            raise CacheError(f"cannot list {directory.path}: {exc.strerror}") from None
        used = {str(entry.get("filename") or key) for key, entry in directory.entries.items()}
        for name in names:
            path = directory.path / name
            if is_internal(name) or os.path.abspath(path) in managed:
                continue
            problem = check_entry(path)
            if problem == "a directory" and name not in used:
                continue  # never a name the cache uses
            if problem is None and not safe_name(name):
                problem = "a file whose name no image can have"
            if problem is not None:
                quarantine(directory.path, name, problem, directory.modes)
