"""The cache's intent journal: each file move is written down before it is made.

Moving an image into ``cache/`` (or out to ``expired/``, or both when a new version replaces
the old one) takes one or two renames and up to three index writes; ``kill -9`` can fall
between any two of them. Before the rename the step is written to
``<cache>/.vmcatcher_cache.journal`` (atomically); after the indexes are saved it is removed.
The next run finds an unfinished step and completes it (:meth:`Journal.pending`), so every
index entry has its file, no file escapes its index, and the Postfix event that the crashed run
owed is sent (through the outbox).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import CacheError
from .index import atomic_write, fsync_directory
from .safefs import open_nofollow

__all__ = ["JOURNAL_NAME", "Journal", "JournalPendingError", "Step"]

logger = logging.getLogger(__name__)

JOURNAL_NAME = ".vmcatcher_cache.journal"


class JournalPendingError(CacheError):
    """A step failed and could not be undone: the journal keeps it for the next run (exit 1)."""


@dataclass(frozen=True)
class Step:
    """One move: ``install`` (partial → cache), ``expire`` (cache → expired ``target``), or
    ``replace`` (the old file, ``old``, to expired ``target``, then the new one into cache).

    ``entry`` is the index entry of the file moved in (install, replace) or out (expire).
    """

    op: str
    key: str
    target: str
    entry: dict[str, Any]
    old: dict[str, Any] | None = None
    #: ``[st_dev, st_ino]`` of the new file (replace): tells whether the exchange was made.
    inode: list[int] | None = None


class Journal:
    """The journal file of one cache directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL_NAME

    def begin(self, step: Step) -> None:
        """Write the step down (durably) before making it."""
        atomic_write(self.path, json.dumps(asdict(step), sort_keys=True).encode("utf-8"))

    def end(self) -> None:
        """The step is complete."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
            fsync_directory(self.path.parent)

    def pending(self) -> Step | None:
        """The step a crashed run left unfinished, if any."""
        try:
            with os.fdopen(open_nofollow(self.path), "rb") as handle:
                data = json.loads(handle.read())
            return Step(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise CacheError(f"cannot read the cache journal {self.path}: {exc}") from None
