"""The outbox: events a handler did not take, kept to be sent again (defect D13).

vmcatcher 0.6 logged a failed handler and forgot the event, so a cloud that missed an
``AvailablePostfix`` never learned about the image. Here each failed (event, handler) pair is
written to a small JSON file and sent again, to the same handler, on every later run until the
handler succeeds. A run that crashed between two halves of a cache step also puts the event it
owed there (see :mod:`imagelist.cache.journal`).

The file is rewritten atomically after each change. Records keep the event's metadata without
``message`` (the whole signed list, which the index already holds).

Dead letters (issue 9 §7): an event that failed ``max_attempts`` times (default
:data:`DEFAULT_MAX_ATTEMPTS`; 0: never) is not sent again on its own: it moves to the
dead-letter file beside the outbox (``.vmcatcher_cache.dead-letters``), is reported at every run
(and in the exit code) until an admin re-queues it (:meth:`Outbox.requeue`) or drops it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import HandlerError
from ..fileio import replace_atomically
from .defaults import DEFAULT_MAX_ATTEMPTS
from .model import EventType
from .registry import EventDispatcher
from .runner import HandlerResult

__all__ = ["DEAD_LETTER_SUFFIX", "DEFAULT_MAX_ATTEMPTS", "Outbox", "PendingEvent", "ResendReport"]

logger = logging.getLogger(__name__)

#: Metadata keys not kept in the outbox.
_DROPPED_KEYS = frozenset({"message"})
#: The dead-letter file is the outbox's path with this suffix instead of its own.
DEAD_LETTER_SUFFIX = ".dead-letters"


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PendingEvent:
    """One event one handler still has to take."""

    type: str
    metadata: dict[str, Any]
    handler: str
    attempts: int = 1
    first_failed: str = field(default_factory=_now)
    last_error: str = ""
    id: str = field(default_factory=_new_id)
    dead_since: str = ""

    @property
    def identifier(self) -> str:
        """The image id, for messages."""
        return str(self.metadata.get("dc:identifier", self.metadata.get("uuid", "-")))


@dataclass
class ResendReport:
    """What sending the outbox again did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0  # moved to the dead letters in this run
    waiting: dict[str, int] = field(default_factory=dict)  # handler not configured → count


def _read(path: Path, what: str) -> list[PendingEvent]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise HandlerError(f"cannot read the {what} {path}: {exc}") from None
    try:
        return [PendingEvent(**record) for record in data]
    except TypeError as exc:
        raise HandlerError(f"the {what} {path} is not valid: {exc}") from None


def _write(path: Path, records: list[PendingEvent], what: str) -> None:
    if not records:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    text = json.dumps([asdict(record) for record in records], indent=1, sort_keys=True)
    try:
        replace_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise HandlerError(f"cannot write the {what} {path}: {exc.strerror}") from None


class Outbox:
    """The pending events of one cache, in the JSON file ``path``, and its dead letters."""

    def __init__(self, path: Path, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self.path = path
        self.dead_path = path.with_suffix(DEAD_LETTER_SUFFIX)
        self.max_attempts = max_attempts
        self.pending: list[PendingEvent] = []
        self.dead: list[PendingEvent] = []

    def load(self) -> None:
        """Read both files (missing: empty). An unreadable file is a HandlerError."""
        self.pending = _read(self.path, "event outbox")
        self.dead = _read(self.dead_path, "dead-letter file")

    def save(self) -> None:
        """Write the outbox atomically (removed when empty)."""
        _write(self.path, self.pending, "event outbox")

    def save_dead(self) -> None:
        """Write the dead letters atomically (removed when empty)."""
        _write(self.dead_path, self.dead, "dead-letter file")

    def _exhausted(self, record: PendingEvent) -> bool:
        return self.max_attempts > 0 and record.attempts >= self.max_attempts

    def _bury(self, record: PendingEvent) -> None:
        """Move ``record`` to the dead letters (written first: a crash leaves it in both)."""
        record.dead_since = _now()
        self.dead.append(record)
        self.save_dead()
        if record in self.pending:
            self.pending.remove(record)
        self.save()
        logger.error(
            "event %s for %s is a dead letter (id %s): handler %r failed %d time(s) since %s, "
            "last: %s; re-queue it with --requeue-dead-letters %s",
            record.type,
            record.identifier,
            record.id,
            record.handler,
            record.attempts,
            record.first_failed,
            record.last_error,
            record.id,
        )

    def add(
        self,
        event_type: EventType | str,
        metadata: Mapping[str, Any],
        handler: str,
        error: str = "",
    ) -> None:
        """Keep an event for ``handler`` (saved at once)."""
        kept = {key: value for key, value in metadata.items() if key not in _DROPPED_KEYS}
        record = PendingEvent(str(event_type), kept, handler, last_error=error)
        self.pending.append(record)
        self.save()
        if self._exhausted(record):
            self._bury(record)

    def record(self, results: Iterable[HandlerResult]) -> int:
        """Keep every failed result's event for its handler; returns how many failed."""
        failed = [result for result in results if not result.ok]
        for result in failed:
            self.add(result.event.type, result.event.metadata, result.handler, result.describe())
        return len(failed)

    def requeue(self, ids: Iterable[str] = ()) -> list[PendingEvent]:
        """Move the dead letters ``ids`` (default: all) back to the outbox, their attempts
        counted from 0; an unknown id is a HandlerError and nothing is moved."""
        wanted = list(dict.fromkeys(ids))
        known = {record.id for record in self.dead}
        unknown = [ident for ident in wanted if ident not in known]
        if unknown:
            raise HandlerError(f"no dead letter with id {unknown[0]!r} (see --list-dead-letters)")
        moved = [record for record in self.dead if not wanted or record.id in wanted]
        for record in moved:
            record.attempts = 0
            record.dead_since = ""
        self.pending.extend(moved)
        self.save()  # first: a crash leaves the event in both files, never in neither
        self.dead = [record for record in self.dead if record not in moved]
        self.save_dead()
        return moved

    def resend(self, dispatcher: EventDispatcher) -> ResendReport:
        """Send every pending event again, in order, to its handler if configured."""
        report = ResendReport()
        configured = set(dispatcher.names)
        for record in list(self.pending):
            if record.handler not in configured:
                report.waiting[record.handler] = report.waiting.get(record.handler, 0) + 1
                continue
            try:
                event_type = EventType(record.type)
            except ValueError:
                logger.warning("outbox: unknown event type %r dropped", record.type)
                self.pending.remove(record)
                self.save()
                continue
            logger.info(
                "sending %s for %s again (failed %d time(s) since %s)",
                record.type,
                record.identifier,
                record.attempts,
                record.first_failed,
            )
            (result,) = dispatcher.emit(event_type, record.metadata, only=record.handler)
            if result.ok:
                self.pending.remove(record)
                report.delivered += 1
            else:
                record.attempts += 1
                record.last_error = result.describe()
                report.failed += 1
                if self._exhausted(record):
                    self._bury(record)
                    report.dead += 1
            self.save()
        for handler, count in report.waiting.items():
            logger.warning(
                "%d event(s) wait for handler %r, which is not configured in this run "
                "(configure it again, or drop them with --drop-pending-events)",
                count,
                handler,
            )
        return report

    def drop(self) -> int:
        """Forget every pending event; returns how many."""
        count = len(self.pending)
        self.pending = []
        self.save()
        return count
