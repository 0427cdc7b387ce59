"""Find handlers and dispatch events to them.

In-process handlers are registered by other packages (the cloud backends) under the entry-point
group ``imagelist.handlers``; each entry point names a callable taking an
:class:`~imagelist.events.Event`. An :class:`EventDispatcher` sends each event to every
configured handler in order, with one session id for the whole run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol

from ..errors import HandlerError
from .model import Event, EventType
from .runner import DEFAULT_HANDLER_TIMEOUT, CallableHandler, HandlerResult, ShellHandler

__all__ = [
    "ENTRY_POINT_GROUP",
    "EventDispatcher",
    "EventHandler",
    "available_handlers",
    "build_dispatcher",
    "load_handler",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "imagelist.handlers"


class EventHandler(Protocol):
    """Anything that takes an event and says how it went."""

    name: str

    def __call__(self, event: Event) -> HandlerResult: ...


def available_handlers() -> dict[str, EntryPoint]:
    """The in-process handlers installed, by name."""
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def load_handler(name: str, *, timeout: float = DEFAULT_HANDLER_TIMEOUT) -> EventHandler:
    """The installed handler ``name``, wrapped so that its failures are results, not crashes,
    and a call without an answer after ``timeout`` seconds is a timed-out result."""
    found = available_handlers().get(name)
    if found is None:
        known = ", ".join(sorted(available_handlers())) or "none installed"
        raise HandlerError(f"no event handler named {name!r} ({ENTRY_POINT_GROUP}: {known})")
    try:
        function = found.load()
    except Exception as exc:  # any import-time failure of a third-party package
        raise HandlerError(f"cannot load event handler {name!r}: {exc}") from None
    if not callable(function):
        raise HandlerError(f"event handler {name!r} ({found.value}) is not callable")
    return CallableHandler(name, function, timeout=timeout)


class EventDispatcher:
    """Sends events to handlers, one session id per run (VMCATCHER_EVENT_UUID_SESSION)."""

    def __init__(
        self,
        handlers: Sequence[EventHandler] = (),
        *,
        session: str | None = None,
        extra: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.handlers = tuple(handlers)
        self.session = session or str(uuid.uuid1())
        self.extra = dict(extra or {})
        #: The command's environment, handed to in-process handlers with each event.
        self.environ: Mapping[str, str] = dict(environ or {})

    @property
    def enabled(self) -> bool:
        """Whether any handler is configured."""
        return bool(self.handlers)

    @property
    def names(self) -> tuple[str, ...]:
        """The configured handlers' names (the command, or the entry point's name)."""
        return tuple(handler.name for handler in self.handlers)

    def emit(
        self,
        event_type: EventType,
        metadata: Mapping[str, Any] | None = None,
        *,
        only: str | None = None,
    ) -> list[HandlerResult]:
        """Send one event to every handler (or to the one named ``only``); results in order."""
        event = Event(event_type, dict(metadata or {}), self.session, self.extra, self.environ)
        return [handler(event) for handler in self.handlers if only in (None, handler.name)]


def build_dispatcher(
    command: str | None,
    names: Iterable[str] = (),
    *,
    timeout: float = DEFAULT_HANDLER_TIMEOUT,
    extra: Mapping[str, str] | None = None,
    environ: Mapping[str, str],
) -> EventDispatcher:
    """A dispatcher for the admin's command (if any) and the named in-process handlers.

    ``environ`` is the environment the command runs in (the command's settings; ADR 0024).
    """
    handlers: list[EventHandler] = []
    if command and command.strip():
        handlers.append(ShellHandler(command, timeout=timeout, environ=environ))
    handlers.extend(load_handler(name, timeout=timeout) for name in names)
    return EventDispatcher(handlers, extra=extra, environ=environ)
