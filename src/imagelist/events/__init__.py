"""Events: the vmcatcher handler protocol, the handler runner and the handler registry.

Shared by ``vmcatcher_subscribe`` (SubscriptionImageNew) and ``vmcatcher_cache`` (the
Process/Expire/Available events). See :mod:`.model` for the variables, :mod:`.runner` for how a
handler runs, :mod:`.registry` for in-process handlers (entry-point group
``imagelist.handlers``) and :mod:`.outbox` for events sent again until a handler takes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .defaults import DEFAULT_HANDLER_TIMEOUT, DEFAULT_MAX_ATTEMPTS

if TYPE_CHECKING:
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
    from .outbox import Outbox, PendingEvent, ResendReport
    from .registry import (
        ENTRY_POINT_GROUP,
        EventDispatcher,
        EventHandler,
        available_handlers,
        build_dispatcher,
        load_handler,
    )
    from .runner import CallableHandler, HandlerResult, ShellHandler

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

# Imported on first use (PEP 562): a command's --help takes the defaults above without the
# runner, the outbox and the list model (ADR 0029).
_WHERE = {
    "EVENT_PREFIX": ".model",
    "METADATA_VARIABLES": ".model",
    "TRUNCATION_MARKER": ".model",
    "VALUE_CAP": ".model",
    "Event": ".model",
    "EventType": ".model",
    "environment_budget": ".model",
    "environment_size": ".model",
    "event_variables": ".model",
    "handler_environment": ".model",
    "image_new_metadata": ".model",
    "truncate_value": ".model",
    "Outbox": ".outbox",
    "PendingEvent": ".outbox",
    "ResendReport": ".outbox",
    "ENTRY_POINT_GROUP": ".registry",
    "EventDispatcher": ".registry",
    "EventHandler": ".registry",
    "available_handlers": ".registry",
    "build_dispatcher": ".registry",
    "load_handler": ".registry",
    "CallableHandler": ".runner",
    "HandlerResult": ".runner",
    "ShellHandler": ".runner",
}

__getattr__ = lazy_exports(__name__, _WHERE)
