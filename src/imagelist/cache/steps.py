"""The cache's journaled steps: install, expire, replace; completed after a crash, undone after
an error.

Each step moves files between ``partial/``, ``cache/`` and ``expired/`` and updates their
indexes. It is written to the journal first (:mod:`.journal`), then :meth:`Steps._apply` makes
it, from whatever state it finds: the same code makes a step in a run and completes one that a
``kill -9`` interrupted (the next run's :meth:`Steps.recover`). When a step fails in a run
(a rename refused, an index that cannot be written), :meth:`Steps._undo` puts the files and
entries back as they were and the run goes on with the next image; if even that fails, the
journal is kept and the run stops, so that the next run completes the step.

**Replace before retire** (ADR 0009). A new version of a cached image (same id, another sha512)
is downloaded and verified in ``partial/`` while the old file, its index entry and the cloud's
image stay in service. Then, in this order: ExpirePrefix (old, in ``cache/``), AvailablePrefix
(new, in ``partial/``), the ``replace`` step, ExpirePostfix (old, in ``expired/``),
AvailablePostfix (new, in ``cache/``). A download that fails retires nothing.

The ``replace`` step exchanges ``partial/<id>`` and ``cache/<id>`` in one ``renameat2``
(``RENAME_EXCHANGE``): ``cache/<id>`` is the old file, then the new one, and never missing. The
old file, now in ``partial/``, then moves to ``expired/<id>.<time>`` and the indexes follow.
Where the exchange is not possible (``partial/`` on another filesystem than ``cache/``, a
filesystem or kernel without it) the old file moves out and the new one in, two renames a few
microseconds apart; the journal makes either way complete after a crash.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import CacheError
from ..events import EventDispatcher, EventType, Outbox
from .index import ManagedDirectory, expired_name, fsync_directory
from .journal import Journal, JournalPendingError, Step
from .safefs import check_entry

__all__ = ["STEP_OPS", "Steps", "exchange", "file_identity"]

logger = logging.getLogger(__name__)

STEP_OPS = ("install", "expire", "replace")

#: The entries a step may change, as they were before it: cache[key], partial[key], expired[target].
_Snapshot = tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = frozenset({errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})


def _load_renameat2() -> Any:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # pragma: no cover - glibc < 2.28, another libc
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()


def _regular(path: Path) -> bool:
    """A regular file with one link (ADR 0010), not followed."""
    return os.path.lexists(path) and check_entry(path) is None


def file_identity(path: Path) -> list[int] | None:
    """``[st_dev, st_ino]`` of a regular file (not followed), or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return [info.st_dev, info.st_ino] if stat.S_ISREG(info.st_mode) else None


def exchange(first: Path, second: Path) -> bool:
    """Swap two regular files atomically (``renameat2(RENAME_EXCHANGE)``, never following a
    link); False where the filesystem, kernel or C library cannot, or across filesystems."""
    if _RENAMEAT2 is None:  # pragma: no cover - see _load_renameat2
        return False
    if not (_regular(first) and _regular(second)):
        raise CacheError(f"cannot exchange {first} and {second}: not two regular files")
    done = _RENAMEAT2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if done != 0:
        code = ctypes.get_errno()
        if code in _UNSUPPORTED:
            return False
        raise CacheError(f"cannot exchange {first} and {second}: {os.strerror(code)}")
    fsync_directory(first.parent)
    if second.parent != first.parent:
        fsync_directory(second.parent)
    return True


def _copy(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if entry is None else dict(entry)


def _restore(directory: ManagedDirectory, key: str, entry: dict[str, Any] | None) -> None:
    if entry is None:
        directory.entries.pop(key, None)
    else:
        directory.entries[key] = entry


class Steps:
    """The steps of a :class:`~imagelist.cache.cache.CacheRun` (a mixin: it owns the state)."""

    cache: ManagedDirectory
    partial: ManagedDirectory
    expired: ManagedDirectory
    journal: Journal
    outbox: Outbox
    dispatcher: EventDispatcher
    now: Callable[[], datetime]

    def _move(self, source: Path, destination: Path) -> None:  # pragma: no cover - the run's
        raise NotImplementedError

    def _usable(self, directory: Path, name: str) -> bool:  # pragma: no cover - the run's
        """A regular file with one link; anything else under the name is quarantined."""
        raise NotImplementedError

    def _safe_step(self, step: Step) -> bool:  # pragma: no cover - the run's
        raise NotImplementedError

    def _matches(self, path: Path, entry: Mapping[str, Any]) -> bool:  # pragma: no cover
        raise NotImplementedError

    # --- names and events owed ---------------------------------------------------------------

    def _expired_target(self, key: str) -> str:
        when = self.now()
        target = expired_name(key, when)
        while target in self.expired.entries or os.path.lexists(self.expired.path / target):
            when += timedelta(seconds=1)
            target = expired_name(key, when)
        return target

    def _owe(self, event_type: EventType, metadata: Mapping[str, Any]) -> None:
        """An event a crashed run did not send: into the outbox for every handler."""
        for name in self.dispatcher.names:
            self.outbox.add(event_type, metadata, name, "owed by an interrupted run")

    # --- one step ------------------------------------------------------------------------------

    @contextmanager
    def _step(self, step: Step) -> Iterator[dict[str, Any] | None]:
        """Journal and make ``step`` (undone on an error); the body sends its Postfix events.

        Yields the expired entry, if any. The journal ends after the body, so a kill before the
        Postfix events were sent leaves the step to the next run, which sends them (they may
        arrive twice: handlers are idempotent).
        """
        with self.partial.lock:
            snapshot: _Snapshot = (
                _copy(self.cache.entries.get(step.key)),
                _copy(self.partial.entries.get(step.key)),
                _copy(self.expired.entries.get(step.target)),
            )
        self.journal.begin(step)
        try:
            moved, _ = self._apply(step, recovering=False)
        except Exception:
            self._undo(step, snapshot)
            raise
        try:
            yield moved
        except Exception:  # an error sending the events: the step itself is complete
            self.journal.end()
            raise
        # An interrupt (SIGTERM) or a crash before here keeps the journal: the next run
        # completes nothing more but owes the Postfix events that were not sent.
        self.journal.end()

    def _swapped(self, step: Step) -> bool:
        """Whether ``cache/<id>`` is the new file of a replace, put there by the exchange."""
        return step.inode is not None and file_identity(self.cache.path / step.key) == step.inode

    def _files(self, step: Step) -> tuple[bool, bool, bool]:
        """Whether the cache, partial and expired files of ``step`` are there (regular files
        with one link; anything else under those names is quarantined, never followed)."""
        return (
            self._usable(self.cache.path, step.key),
            self._usable(self.partial.path, step.key),
            self._usable(self.expired.path, step.target),
        )

    def _move_replace(self, step: Step, *, recovering: bool) -> None:
        """The files of a replace, from whatever state a kill left them in."""
        cached = self.cache.path / step.key
        partial = self.partial.path / step.key
        expired = self.expired.path / step.target
        has_cached, has_partial, has_expired = self._files(step)
        swapped = self._swapped(step)
        if not has_expired:
            if has_partial and has_cached and not swapped:
                swapped = exchange(partial, cached)
                if not swapped:
                    self._move(cached, expired)  # no exchange here: two renames
            if swapped and self._usable(self.partial.path, step.key):
                self._move(partial, expired)  # the old file, exchanged into partial/
        has_cached, has_partial, has_expired = self._files(step)
        if has_expired and not swapped and has_partial:
            in_place = recovering and has_cached and self._matches(cached, step.entry)
            if not in_place:
                self._move(partial, cached)  # rename(2) replaces a leftover atomically

    def _move_files(self, step: Step, *, recovering: bool) -> None:
        """The files of an install or an expire, from whatever state a kill left them in."""
        cached = self.cache.path / step.key
        has_cached, has_partial, has_expired = self._files(step)
        if step.op == "expire":
            if not has_expired:
                if has_cached:
                    self._move(cached, self.expired.path / step.target)
            elif has_cached:
                cached.unlink()  # what a copy across filesystems left behind
            return
        if has_partial:
            in_place = recovering and has_cached and self._matches(cached, step.entry)
            if not in_place:
                self._move(self.partial.path / step.key, cached)

    def _apply(self, step: Step, *, recovering: bool) -> tuple[dict[str, Any] | None, bool]:
        """Make ``step`` from the state it is in; returns (the expired entry, whether installed).

        The files first (:meth:`_move_replace`, :meth:`_move_files`), then the indexes: the
        expired one, the cache one, the partial one. A copy across filesystems that is complete
        but whose source was not removed yet counts as done; a partial file left behind is
        removed by the reconciliation (it has no entry any more).
        """
        op, key = step.op, step.key
        if op == "replace":
            self._move_replace(step, recovering=recovering)
        else:
            self._move_files(step, recovering=recovering)
        has_cached, _, has_expired = self._files(step)
        old_out = op != "install" and has_expired
        new_in = has_cached and (op == "install" or (op == "replace" and old_out))
        moved = None
        if old_out:
            moved = dict(step.old if op == "replace" and step.old else step.entry)
            moved["filename"] = step.target
            self.expired.entries[step.target] = moved
            if op == "expire":
                self.cache.entries.pop(key, None)
            self.expired.save()
        if new_in:
            self.cache.entries[key] = step.entry
        if old_out or new_in:
            self.cache.save()
        if new_in:
            with self.partial.lock:
                self.partial.entries.pop(key, None)
                self.partial.save()
        return moved, new_in

    def _undo(self, step: Step, snapshot: _Snapshot) -> None:
        """Put back the files and entries of a step that failed in this run; end the journal."""
        op, key = step.op, step.key
        cached = self.cache.path / key
        partial = self.partial.path / key
        expired = self.expired.path / step.target
        try:
            has_cached, has_partial, has_expired = self._files(step)
            if op == "replace" and self._swapped(step):
                if not has_partial and has_expired:
                    self._move(expired, partial)  # the old file back where the exchange put it
                if self._usable(self.partial.path, key) and not exchange(partial, cached):
                    raise CacheError("the exchange cannot be made again")
                has_cached, has_partial, has_expired = self._files(step)
            new_in = has_cached and not has_partial
            if new_in and (op == "install" or (op == "replace" and has_expired)):
                self._move(cached, partial)  # the new file back
                has_cached = False
            if op in ("expire", "replace") and has_expired and not has_cached:
                self._move(expired, cached)  # the old file back
            with self.partial.lock:
                _restore(self.cache, key, snapshot[0])
                _restore(self.partial, key, snapshot[1])
                _restore(self.expired, step.target, snapshot[2])
                for directory in (self.expired, self.cache, self.partial):
                    directory.save()
        except Exception as exc:
            raise JournalPendingError(
                f"{key}: the {op} step failed and cannot be undone ({exc}); "
                "the next run completes it"
            ) from None
        self.journal.end()
        logger.info("%s: the %s step was undone", key, op)

    # --- after a crash -------------------------------------------------------------------------

    def recover(self) -> None:
        """Complete a step a crashed run left half done, and owe its Postfix events."""
        step = self.journal.pending()
        if step is None:
            return
        if not self._safe_step(step):
            self.journal.end()
            return
        logger.warning("completing the %s of %s left by an interrupted run", step.op, step.key)
        if step.op in STEP_OPS:
            moved, installed = self._apply(step, recovering=True)
            if moved is not None:
                self._owe(EventType.EXPIRE_POSTFIX, moved)
            if installed:
                self._owe(EventType.AVAILABLE_POSTFIX, step.entry)
        else:
            logger.error("unknown step %r in the cache journal; ignored", step.op)
        self.journal.end()
