"""The vmcatcher event protocol (reference §2.7): event names and the VMCATCHER_EVENT_* set.

Pure data and pure functions: an :class:`Event` is a type, the metadata of one image (keys as in
the list and in ``cache.index``), the run's session id and any extra variables the caller passes
as configured (``VMCATCHER_CACHE_DIR_*``, ``VMCATCHER_RDBMS``). :func:`event_variables` maps it to
exactly the variables vmcatcher 0.6 set: a variable is present only when its key is present and
its text is not empty.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..document import Image

__all__ = [
    "EVENT_PREFIX",
    "METADATA_VARIABLES",
    "Event",
    "EventType",
    "event_variables",
    "handler_environment",
    "image_new_metadata",
]

logger = logging.getLogger(__name__)

EVENT_PREFIX = "VMCATCHER_EVENT_"


class EventType(enum.StrEnum):
    """Event names, spelled as handlers compare them."""

    PROCESS_PREFIX = "ProcessPrefix"
    EXPIRE_PREFIX = "ExpirePrefix"
    EXPIRE_POSTFIX = "ExpirePostfix"
    AVAILABLE_PREFIX = "AvailablePrefix"
    AVAILABLE_POSTFIX = "AvailablePostfix"
    PROCESS_POSTFIX = "ProcessPostfix"
    SUBSCRIPTION_IMAGE_NEW = "SubscriptionImageNew"


#: (variable name without the VMCATCHER_EVENT_ prefix, metadata keys tried in order). The
#: legacy keys ``uuid``, ``size`` and ``sha512`` are read when the modern one is absent.
METADATA_VARIABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DC_IDENTIFIER", ("dc:identifier", "uuid")),
    ("DC_TITLE", ("dc:title",)),
    ("DC_DESCRIPTION", ("dc:description",)),
    ("HV_URI", ("hv:uri",)),
    ("HV_SIZE", ("hv:size", "size")),
    ("HV_VERSION", ("hv:version",)),
    ("HV_HYPERVISOR", ("hv:hypervisor",)),
    ("SL_ARCH", ("sl:arch",)),
    ("SL_CHECKSUM_SHA512", ("sl:checksum:sha512", "sha512")),
    ("SL_COMMENTS", ("sl:comments",)),
    ("SL_OS", ("sl:os",)),
    ("SL_OSVERSION", ("sl:osversion",)),
    ("FILENAME", ("filename",)),
    ("IL_DC_IDENTIFIER", ("hv:imagelist.dc:identifier",)),
    ("HV_FORMAT", ("hv:image.hv:format",)),
    ("AD_MPURI", ("hv:image.ad:mpuri",)),
    ("VO", ("hv:imagelist.ad:vo",)),
)

#: The image keys SubscriptionImageNew carries (the "yes" column of reference §2.7).
_IMAGE_NEW_KEYS = (
    "dc:identifier",
    "dc:title",
    "dc:description",
    "hv:uri",
    "hv:size",
    "hv:version",
    "hv:hypervisor",
    "sl:arch",
    "sl:checksum:sha512",
    "sl:comments",
    "sl:os",
    "sl:osversion",
)


@dataclass(frozen=True)
class Event:
    """One event: its type, the metadata it is about, the run's session and extra variables."""

    type: EventType
    metadata: Mapping[str, Any] = field(default_factory=dict)
    session: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def identifier(self) -> str | None:
        """The image id the event is about, if any (for logs)."""
        value = self.metadata.get("dc:identifier", self.metadata.get("uuid"))
        return None if value is None else str(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def event_variables(event: Event) -> dict[str, str]:
    """The VMCATCHER_EVENT_* variables (plus ``extra``) of ``event``, empty values left out.

    ``FILENAME`` is the file's base name. A value holding a NUL byte cannot be put in an
    environment; it is left out with a warning rather than failing the event.
    """
    variables = {f"{EVENT_PREFIX}TYPE": str(event.type)}
    if event.session:
        variables[f"{EVENT_PREFIX}UUID_SESSION"] = event.session
    for name, keys in METADATA_VARIABLES:
        key = next((key for key in keys if key in event.metadata), None)
        if key is None:
            continue
        text = _text(event.metadata[key])
        if name == "FILENAME":
            text = os.path.basename(text)
        if not text:
            continue
        if "\0" in text:
            logger.warning("event %s: %s holds a NUL byte; not passed", event.type, key)
            continue
        variables[EVENT_PREFIX + name] = text
    for name, value in event.extra.items():
        if value and "\0" not in value:
            variables[name] = value
    return variables


def handler_environment(event: Event, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a handler: ``base`` (default: ours) without inherited VMCATCHER_EVENT_*
    variables, plus :func:`event_variables`."""
    source = os.environ if base is None else base
    environment = {k: v for k, v in source.items() if not k.startswith(EVENT_PREFIX)}
    environment.update(event_variables(event))
    return environment


def image_new_metadata(image: Image) -> dict[str, Any]:
    """The metadata of a SubscriptionImageNew event for ``image`` (its 12 required keys)."""
    data = image.to_dict()
    return {key: data[key] for key in _IMAGE_NEW_KEYS if key in data}
