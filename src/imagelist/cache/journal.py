"""The cache's intent journal: each file move is written down before it is made.

Moving an image into ``cache/`` (or out to ``expired/``) takes a rename and two index writes;
``kill -9`` can fall between any two of them. Before the rename the step is written to
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

__all__ = ["JOURNAL_NAME", "Journal", "Step"]

logger = logging.getLogger(__name__)

JOURNAL_NAME = ".vmcatcher_cache.journal"


@dataclass(frozen=True)
class Step:
    """One move: ``install`` (partial → cache) or ``expire`` (cache → expired ``target``)."""

    op: str
    key: str
    target: str
    entry: dict[str, Any]


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
