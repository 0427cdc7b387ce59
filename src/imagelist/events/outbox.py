"""The outbox: events a handler did not take, kept to be sent again (defect D13).

vmcatcher 0.6 logged a failed handler and forgot the event, so a cloud that missed an
``AvailablePostfix`` never learned about the image. Here each failed (event, handler) pair is
written to a small JSON file and sent again, to the same handler, on every later run until the
handler succeeds. A run that crashed between two halves of a cache step also puts the event it
owed there (see :mod:`imagelist.cache.journal`).

The file is rewritten atomically after each change. Records keep the event's metadata without
``message`` (the whole signed list, which the index already holds).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import HandlerError
from ..fileio import replace_atomically
from .model import EventType
from .registry import EventDispatcher
from .runner import HandlerResult

__all__ = ["Outbox", "PendingEvent", "ResendReport"]

logger = logging.getLogger(__name__)

#: Metadata keys not kept in the outbox.
_DROPPED_KEYS = frozenset({"message"})


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

    @property
    def identifier(self) -> str:
        """The image id, for messages."""
        return str(self.metadata.get("dc:identifier", self.metadata.get("uuid", "-")))


@dataclass
class ResendReport:
    """What sending the outbox again did."""

    delivered: int = 0
    failed: int = 0
    waiting: dict[str, int] = field(default_factory=dict)  # handler not configured → count


class Outbox:
    """The pending events of one cache, in the JSON file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: list[PendingEvent] = []

    def load(self) -> None:
        """Read the file (missing: empty). An unreadable file is a HandlerError."""
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            self.pending = []
            return
        except (OSError, ValueError) as exc:
            raise HandlerError(f"cannot read the event outbox {self.path}: {exc}") from None
        try:
            self.pending = [PendingEvent(**record) for record in data]
        except TypeError as exc:
            raise HandlerError(f"the event outbox {self.path} is not valid: {exc}") from None

    def save(self) -> None:
        """Write the file atomically (removed when empty)."""
        if not self.pending:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        text = json.dumps([asdict(record) for record in self.pending], indent=1, sort_keys=True)
        try:
            replace_atomically(self.path, text.encode("utf-8"))
        except OSError as exc:
            raise HandlerError(
                f"cannot write the event outbox {self.path}: {exc.strerror}"
            ) from None

    def add(
        self,
        event_type: EventType | str,
        metadata: Mapping[str, Any],
        handler: str,
        error: str = "",
    ) -> None:
        """Keep an event for ``handler`` (saved at once)."""
        kept = {key: value for key, value in metadata.items() if key not in _DROPPED_KEYS}
        self.pending.append(PendingEvent(str(event_type), kept, handler, last_error=error))
        self.save()

    def record(self, results: Iterable[HandlerResult]) -> int:
        """Keep every failed result's event for its handler; returns how many failed."""
        failed = [result for result in results if not result.ok]
        for result in failed:
            self.add(result.event.type, result.event.metadata, result.handler, result.describe())
        return len(failed)

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
