"""Support for the cache's file-safety tests: what the cache tree holds, and what lies outside.

:func:`tree` describes every entry under a directory without following links (a file by its
sha256 and link count, a link by its target), so a test can compare the cache before and after an
attack and see that only ``.quarantine/`` changed. :class:`Outside` is a file and a directory
outside the cache that planted links point at; :meth:`Outside.assert_untouched` checks them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from imagelist.errors import EXIT_IMAGES_FAILED
from tests.cache.support import CacheSite
from tests.subscriber.support import Result

#: imagelist.cache.safefs.QUARANTINE_NAME, as the docs name it.
QUARANTINE_NAME = ".quarantine"

#: What vmcatcher_cache exits with when an image failed this run (see docs/vmcatcher_cache.md).
IMAGE_FAILED_EXIT = EXIT_IMAGES_FAILED
#: Internal files a run creates or rewrites whatever happens (lock, outbox).
_VOLATILE = {".vmcatcher_cache.lock", ".vmcatcher_cache.outbox"}


def describe(path: Path) -> tuple[object, ...]:
    """One entry, not followed: ("link", target), ("file", sha256), ("dir",) or ("other",)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISREG(info.st_mode):
        return ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    if stat.S_ISDIR(info.st_mode):
        return ("dir",)
    return ("other",)


def tree(root: Path, *, quarantine: bool = False) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` (not followed), without (or only) the quarantine directories."""
    found: dict[str, tuple[object, ...]] = {}
    for directory, subdirectories, files in os.walk(root):
        for name in [*subdirectories, *files]:
            path = Path(directory) / name
            relative = path.relative_to(root)
            inside = QUARANTINE_NAME in relative.parts
            if name in _VOLATILE or inside != quarantine:
                continue
            found[str(relative)] = describe(path)
    return found


def quarantined(root: Path) -> list[tuple[object, ...]]:
    """What the quarantine directories under ``root`` hold (the entries, without names)."""
    return sorted(
        (
            value
            for key, value in tree(root, quarantine=True).items()
            if Path(key).parent.name == QUARANTINE_NAME
        ),
        key=repr,
    )


@dataclass
class Outside:
    """A file and a directory next to the cache, which planted links and keys aim at."""

    root: Path

    @property
    def file(self) -> Path:
        return self.root / "precious.conf"

    @property
    def directory(self) -> Path:
        return self.root / "precious.d"

    def create(self) -> None:
        self.root.mkdir(exist_ok=True)
        self.file.write_bytes(b"precious content, not an image\n" * 10)
        self.directory.mkdir(exist_ok=True)
        (self.directory / "keep").write_bytes(b"keep me\n")
        self._before = tree(self.root)
        self._stat = os.stat(self.file)

    def assert_untouched(self) -> None:
        assert tree(self.root) == self._before, "nothing outside the cache may change"
        info = os.stat(self.file)
        assert (info.st_size, info.st_mtime_ns) == (self._stat.st_size, self._stat.st_mtime_ns)


def one_warning(result: Result, text: str) -> str:
    """The single stderr line containing ``text`` (asserts there is exactly one, no traceback)."""
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if text in line]
    assert len(lines) == 1, result.err
    return lines[0]


def attack_run(cache_site: CacheSite, *args: str) -> Result:
    """Run vmcatcher_cache once; the database (SQLite or PostgreSQL) must not change."""
    rows = cache_site.site.snapshot()
    result = cache_site.cache(*args)
    assert cache_site.site.snapshot() == rows, "vmcatcher_cache changes no row"
    return result
