"""The vmcatcher event protocol (reference §2.7): event names and the VMCATCHER_EVENT_* set.

Pure data and pure functions: an :class:`Event` is a type, the metadata of one image (keys as in
the list and in ``cache.index``), the run's session id and any extra variables the caller passes
as configured (``VMCATCHER_CACHE_DIR_*``, ``VMCATCHER_RDBMS``). :func:`event_variables` maps it to
exactly the variables vmcatcher 0.6 set: a variable is present only when its key is present and
its text is not empty.

Bounds (issue 9 §7): a signed ``dc:description`` of 200 KiB once made every handler launch fail
with "Argument list too long" (Linux: one environment string is at most MAX_ARG_STRLEN, 128 KiB;
argv and envp together at most ARG_MAX, a quarter of the stack limit). Each VMCATCHER_EVENT_*
value is therefore cut to :data:`VALUE_CAP` bytes, ending with the visible
:data:`TRUNCATION_MARKER`; and :func:`handler_environment` cuts the largest event values further
until argv plus the whole environment fit in :func:`environment_budget`.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..document import Image

__all__ = [
    "EVENT_PREFIX",
    "METADATA_VARIABLES",
    "TRUNCATION_MARKER",
    "VALUE_CAP",
    "Event",
    "EventType",
    "environment_budget",
    "environment_size",
    "event_variables",
    "handler_environment",
    "image_new_metadata",
    "truncate_value",
]

logger = logging.getLogger(__name__)

EVENT_PREFIX = "VMCATCHER_EVENT_"

#: The most bytes (UTF-8) of one VMCATCHER_EVENT_* value, marker included: 32 KiB, a quarter of
#: Linux's MAX_ARG_STRLEN, so that all 17 values together stay well inside ARG_MAX.
VALUE_CAP = 32 * 1024
#: What a cut value ends with; ``{size}`` is the length of the whole value in bytes.
TRUNCATION_MARKER = "...[truncated by imagelist: {size} bytes]"
#: Largest share of ARG_MAX argv + environment may take (the rest is left to what the handler
#: itself starts), and the budget when ARG_MAX is unknown or unlimited.
_BUDGET_SHARE = 2
_DEFAULT_ARG_MAX = 2 * 1024 * 1024
_POINTER = 8  # one argv/envp pointer on the new process's stack


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
    #: The environment of the command that emitted the event (its settings; ADR 0028): what an
    #: in-process handler reads its own variables from. Not part of the event's variables.
    environ: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def identifier(self) -> str | None:
        """The image id the event is about, if any (for logs)."""
        value = self.metadata.get("dc:identifier", self.metadata.get("uuid"))
        return None if value is None else str(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def truncate_value(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` bytes, else its head and :data:`TRUNCATION_MARKER`
    in at most ``limit`` bytes (cut on a character boundary)."""
    raw = _encoded(text)
    if len(raw) <= limit:
        return text
    marker = TRUNCATION_MARKER.format(size=len(raw))
    keep = max(0, limit - len(marker))
    return raw[:keep].decode("utf-8", "ignore") + marker


def environment_budget() -> int:
    """Bytes that argv plus the environment of a handler may take: half of ARG_MAX."""
    try:
        arg_max = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):  # pragma: no cover - every POSIX system has it
        arg_max = -1
    if arg_max <= 0 or arg_max > 64 * _DEFAULT_ARG_MAX:
        arg_max = _DEFAULT_ARG_MAX
    return arg_max // _BUDGET_SHARE


def _entry_size(name: str, value: str) -> int:
    return len(_encoded(name)) + 1 + len(_encoded(value)) + 1 + _POINTER


def environment_size(environment: Mapping[str, str], argv: Sequence[str] = ()) -> int:
    """Bytes the kernel counts for ``argv`` and ``environment`` (strings, NULs, pointers)."""
    size = sum(len(_encoded(arg)) + 1 + _POINTER for arg in argv)
    return size + sum(_entry_size(name, value) for name, value in environment.items())


def _where(event: Event) -> str:
    return f"event {event.type} for {event.identifier or '-'}"


def event_variables(event: Event) -> dict[str, str]:
    """The VMCATCHER_EVENT_* variables (plus ``extra``) of ``event``, empty values left out.

    ``FILENAME`` is the file's base name. A value holding a NUL byte cannot be put in an
    environment; it is left out with a warning rather than failing the event. A value longer
    than :data:`VALUE_CAP` bytes is cut (:func:`truncate_value`), with a warning.
    """
    return _variables(event, VALUE_CAP)


def _variables(event: Event, cap: int | None) -> dict[str, str]:
    """:func:`event_variables`, values cut to ``cap`` bytes (None: whole, no warnings)."""
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
            if cap is not None:
                logger.warning("event %s: %s holds a NUL byte; not passed", event.type, key)
            continue
        if cap is None:
            variables[EVENT_PREFIX + name] = text
            continue
        capped = truncate_value(text, cap)
        if capped is not text:
            logger.warning(
                "%s: %s%s is %d bytes; cut to %d (the cap) and marked %r",
                _where(event),
                EVENT_PREFIX,
                name,
                len(_encoded(text)),
                len(_encoded(capped)),
                TRUNCATION_MARKER.split("{", 1)[0],
            )
        variables[EVENT_PREFIX + name] = capped
    for name, value in event.extra.items():
        if value and "\0" not in value:
            variables[name] = value
    return variables


def _fit(sizes: dict[str, int], room: int) -> int:
    """The largest per-value length L such that the values cut to L take at most ``room``."""
    low, high = 0, max(sizes.values())
    while low < high:
        middle = (low + high + 1) // 2
        if sum(min(size, middle) for size in sizes.values()) <= room:
            low = middle
        else:
            high = middle - 1
    return low


def handler_environment(
    event: Event,
    base: Mapping[str, str],
    *,
    argv: Sequence[str] = (),
    budget: int | None = None,
) -> dict[str, str]:
    """The environment of a handler: ``base`` (the command's environment) without inherited
    VMCATCHER_EVENT_* variables, plus :func:`event_variables`.

    If ``argv`` plus the whole environment would take more than ``budget`` (default
    :func:`environment_budget`), the largest VMCATCHER_EVENT_* values are cut further, to one
    common length, until they fit (only event values: the rest is the admin's).
    """
    environment = {k: v for k, v in base.items() if not k.startswith(EVENT_PREFIX)}
    variables = event_variables(event)
    limit = environment_budget() if budget is None else budget
    fixed = environment_size(environment, argv)
    fixed += environment_size({k: v for k, v in variables.items() if not _cuttable(k)})
    cuttable = {k: v for k, v in variables.items() if _cuttable(k)}
    total = fixed + environment_size(cuttable)
    if cuttable and total > limit:
        sizes = {name: len(_encoded(value)) for name, value in cuttable.items()}
        overhead = environment_size(dict.fromkeys(cuttable, ""))
        length = _fit(sizes, limit - fixed - overhead) if limit > fixed + overhead else 0
        cut = sorted(name for name, size in sizes.items() if size > length)
        whole = _variables(event, None)
        for name in cut:
            variables[name] = truncate_value(whole[name], length)
        logger.warning(
            "%s: argv and environment take %d bytes, more than the %d allowed; %s cut to %d bytes",
            _where(event),
            total,
            limit,
            ", ".join(cut),
            length,
        )
    environment.update(variables)
    return environment


def _cuttable(name: str) -> bool:
    return name.startswith(EVENT_PREFIX) and name not in (
        f"{EVENT_PREFIX}TYPE",
        f"{EVENT_PREFIX}UUID_SESSION",
    )


def image_new_metadata(image: Image) -> dict[str, Any]:
    """The metadata of a SubscriptionImageNew event for ``image`` (its 12 required keys)."""
    data = image.to_dict()
    return {key: data[key] for key in _IMAGE_NEW_KEYS if key in data}
