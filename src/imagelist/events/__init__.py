"""Events: the vmcatcher handler protocol, the handler runner and the handler registry.

Shared by ``vmcatcher_subscribe`` (SubscriptionImageNew) and ``vmcatcher_cache`` (the
Process/Expire/Available events). See :mod:`.model` for the variables, :mod:`.runner` for how a
handler runs, :mod:`.registry` for in-process handlers (entry-point group
``imagelist.handlers``) and :mod:`.outbox` for events sent again until a handler takes them.
"""

from __future__ import annotations

from .model import (
    EVENT_PREFIX,
    METADATA_VARIABLES,
    TRUNCATION_MARKER,
    VALUE_CAP,
    Event,
    EventType,
    environment_budget,
    environment_size,
    event_variables,
    handler_environment,
    image_new_metadata,
    truncate_value,
)
from .outbox import DEFAULT_MAX_ATTEMPTS, Outbox, PendingEvent, ResendReport
from .registry import (
    ENTRY_POINT_GROUP,
    EventDispatcher,
    EventHandler,
    available_handlers,
    build_dispatcher,
    load_handler,
)
from .runner import DEFAULT_HANDLER_TIMEOUT, CallableHandler, HandlerResult, ShellHandler

__all__ = [
    "DEFAULT_HANDLER_TIMEOUT",
    "DEFAULT_MAX_ATTEMPTS",
    "ENTRY_POINT_GROUP",
    "EVENT_PREFIX",
    "METADATA_VARIABLES",
    "TRUNCATION_MARKER",
    "VALUE_CAP",
    "CallableHandler",
    "Event",
    "EventDispatcher",
    "EventHandler",
    "EventType",
    "HandlerResult",
    "Outbox",
    "PendingEvent",
    "ResendReport",
    "ShellHandler",
    "available_handlers",
    "build_dispatcher",
    "environment_budget",
    "environment_size",
    "event_variables",
    "handler_environment",
    "image_new_metadata",
    "load_handler",
    "truncate_value",
]
