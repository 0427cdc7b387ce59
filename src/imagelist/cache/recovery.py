"""After a crash, or someone's hand: make each index and its directory agree.

:meth:`Recovery.reconcile` runs right after the journal's interrupted step is completed
(:meth:`.steps.Steps.recover`): files left by an interrupted write are removed, strays are
quarantined, index entries without a file are dropped, a verified image left in ``cache/`` by
an interrupted run is kept (its AvailablePostfix owed), any other unreferenced cached file is
retired to ``expired/``, and partial files without an entry are removed. A mixin of
:class:`~.cache.CacheRun`, which owns the state.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ImageListError
from ..events import EventType
from .downloading import RESUME_KEY
from .index import ManagedDirectory, quarantine_strays
from .journal import Step
from .partial import hash_file
from .plan import entry_sha512, entry_size
from .safefs import Modes, safe_move, safe_name, usable
from .steps import Steps

if TYPE_CHECKING:
    from .cache import CacheConfig

__all__ = ["Recovery", "move_file"]

logger = logging.getLogger(__name__)

_RESUME = RESUME_KEY


def move_file(source: Path, destination: Path, modes: Modes | None = None) -> None:
    """Rename a checked regular file durably inside the cache (see :func:`.safefs.safe_move`)."""
    safe_move(source.parent, source.name, destination.parent, destination.name, modes or Modes())


class Recovery(Steps):
    """Reconciliation of a :class:`~imagelist.cache.cache.CacheRun` (a mixin)."""

    config: CacheConfig
    cancel: threading.Event

    def directories(self) -> tuple[ManagedDirectory, ...]:  # pragma: no cover - the run's
        raise NotImplementedError

    # --- after a crash (the journal's step: see .steps) ----------------------------------------

    def _usable(self, directory: Path, name: str) -> bool:
        return usable(directory, name, self.config.modes)

    def _safe_step(self, step: Step) -> bool:
        if safe_name(step.key) and safe_name(step.target):
            return True
        logger.error("the cache journal names no file of the cache: %r; ignored", step.key[:80])
        return False

    def reconcile(self) -> None:
        """Make each index and its directory agree (after a crash, or someone's hand)."""
        for directory in self.directories():
            for temporary in directory.temporary_files():
                logger.info("removing %s (left by an interrupted write)", temporary)
                temporary.unlink(missing_ok=True)
        quarantine_strays(self.directories())
        self._reconcile_cache()
        self._reconcile_partial()
        self._reconcile_expired()

    def _drop_bad_entries(self, directory: ManagedDirectory) -> bool:
        changed = False
        for key in list(directory.entries):
            entry = directory.entries[key]
            name = str(entry.get("filename") or key)
            if not usable(directory.path, name, self.config.modes):
                logger.warning("%s: index entry %s has no file; entry removed", directory.path, key)
                del directory.entries[key]
                changed = True
        return changed

    def _reconcile_cache(self) -> None:
        changed = self._drop_bad_entries(self.cache)
        for name in self.cache.unreferenced():
            changed = True
            pending = self.partial.entries.get(name)
            path = self.cache.path / name
            if pending is not None and self._matches(path, pending):
                logger.warning("%s: verified image left by an interrupted run; kept", name)
                entry = {k: v for k, v in pending.items() if k != _RESUME}
                entry["filename"] = name
                self.cache.entries[name] = entry
                del self.partial.entries[name]
                self.partial.save()
                self._owe(EventType.AVAILABLE_POSTFIX, entry)
                continue
            target = self._expired_target(name)
            logger.warning("%s: not in %s; moved to %s", path, self.cache.index_path, target)
            self._move(path, self.expired.path / target)
            self.expired.entries[target] = {"filename": target}
            self.expired.save()
        if changed:
            self.cache.save()

    def _matches(self, path: Path, entry: Mapping[str, Any]) -> bool:
        try:
            if os.lstat(path).st_size != entry_size(entry):
                return False
            return hash_file(path, cancel=self.cancel).hexdigest() == entry_sha512(entry)
        except (OSError, ImageListError):
            return False

    def _reconcile_partial(self) -> None:
        for name in self.partial.unreferenced():
            logger.info("%s: partial file without an index entry; removed", name)
            (self.partial.path / name).unlink(missing_ok=True)

    def _reconcile_expired(self) -> None:
        changed = False
        for key in list(self.expired.entries):
            name = str(self.expired.entries[key].get("filename") or key)
            if not usable(self.expired.path, name, self.config.modes):
                del self.expired.entries[key]
                changed = True
        if changed:
            self.expired.save()
