"""The field rules of the image-list format (reference §1.1-§1.3): which keys each level needs,
how text, size and checksum values are read and written back, dates and safe identifiers.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from imagelist.document.guards import _json_type, _show
from imagelist.errors import DocumentError

#: List-level keys that must be present (reference §1.1), in the order messages name them.
REQUIRED_LIST_KEYS: tuple[str, ...] = (
    "dc:identifier",
    "dc:title",
    "dc:description",
    "dc:source",
    "dc:date:created",
    "dc:date:expires",
    "hv:version",
    "hv:uri",
    "hv:endorser",
    "hv:images",
)
#: Keys of the ``hv:x509`` endorser object; all required.
REQUIRED_ENDORSER_KEYS: tuple[str, ...] = ("hv:dn", "hv:ca", "hv:email", "dc:creator")
#: Keys an ``hv:image`` needs to be kept.
REQUIRED_IMAGE_KEYS: tuple[str, ...] = (
    "dc:identifier",
    "dc:title",
    "dc:description",
    "hv:uri",
    "hv:size",
    "sl:checksum:sha512",
    "sl:arch",
    "sl:os",
    "sl:osversion",
    "sl:comments",
    "hv:hypervisor",
    "hv:version",
)
#: Deepest JSON nesting (objects and arrays) accepted. Real lists nest about 5 deep.
#: The largest ``hv:size`` accepted: 16 TiB. No real image comes near it; a larger size is an
#: invalid list (exit 38), not a download the cache would try.
MAX_IMAGE_SIZE = 2**44

# (attribute, key) of the text-valued fields of each level.
_LIST_TEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("identifier", "dc:identifier"),
    ("title", "dc:title"),
    ("description", "dc:description"),
    ("source", "dc:source"),
    ("version", "hv:version"),
    ("uri", "hv:uri"),
)
_ENDORSER_TEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("dn", "hv:dn"),
    ("ca", "hv:ca"),
    ("email", "hv:email"),
    ("creator", "dc:creator"),
)
_IMAGE_TEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("identifier", "dc:identifier"),
    ("title", "dc:title"),
    ("description", "dc:description"),
    ("uri", "hv:uri"),
    ("sha512", "sl:checksum:sha512"),
    ("arch", "sl:arch"),
    ("os", "sl:os"),
    ("osversion", "sl:osversion"),
    ("comments", "sl:comments"),
    ("hypervisor", "hv:hypervisor"),
    ("version", "hv:version"),
)
_IMAGE_TEXT_KEYS = tuple(key for _, key in _IMAGE_TEXT_FIELDS)
_IMAGE_TEXT_ATTRS = tuple(attr for attr, _ in _IMAGE_TEXT_FIELDS)
_IMAGE_KEY_SET = frozenset(REQUIRED_IMAGE_KEYS)
_IMAGE_TEXT_GETTER = operator.itemgetter(*_IMAGE_TEXT_KEYS)

_WRAPPER = "hv:imagelist"
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_DATE_SHAPE = "YYYY-MM-DDTHH:MM:SSZ"
_SHA512_ANY_CASE_RE = re.compile(r"[0-9a-fA-F]{128}")
_SHA512_RE = re.compile(r"[0-9a-f]{128}")
_SIZE_RE = re.compile(r"[0-9]+")
_SAFE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")
_MAX_INT_DIGITS = 4000  # below Python's int/str conversion limit (4300)


def _oversize(identifier: object, size: int) -> DocumentError:
    """A ``hv:size`` above :data:`MAX_IMAGE_SIZE` makes the whole list invalid."""
    return DocumentError(
        f"image {_show(identifier)}: hv:size {_show(size)} is larger than the limit of "
        f"{MAX_IMAGE_SIZE} bytes (16 TiB)"
    )


def _as_text(value: object) -> tuple[str, int | float | None] | None:
    """A text field's value: (text, the JSON number it came from or None), or None if invalid.

    Strings are taken as they are; numbers (not booleans, not NaN/infinity) become their text.
    """
    if isinstance(value, str):
        return value, None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return str(value), value
        except ValueError:  # longer than Python's int/str conversion limit
            return None
    if isinstance(value, float) and math.isfinite(value):
        return repr(value), value
    return None


def _read_text_fields(
    data: Mapping[str, Any], fields: tuple[tuple[str, str], ...]
) -> tuple[dict[str, Any], dict[str, int | float], list[str]]:
    """Read the present text keys of ``data``: (attr -> text, key -> original number, bad keys)."""
    values: dict[str, Any] = {}
    numbers: dict[str, int | float] = {}
    bad: list[str] = []
    for attr, key in fields:
        if key not in data:
            continue
        text = _as_text(data[key])
        if text is None:
            bad.append(key)
            continue
        values[attr] = text[0]
        if text[1] is not None:
            numbers[key] = text[1]
    return values, numbers, bad


def _read_required_text(
    data: Mapping[str, Any],
    where: str,
    required: tuple[str, ...],
    fields: tuple[tuple[str, str], ...],
) -> tuple[dict[str, Any], dict[str, int | float]]:
    """The text keys of a list or endorser object that must have all of ``required``:
    (attr -> text, key -> original number). A DocumentError names the missing or non-text keys."""
    missing = [key for key in required if key not in data]
    if missing:
        raise DocumentError(f"{where} is missing required key(s): {', '.join(missing)}")
    values, numbers, bad = _read_text_fields(data, fields)
    if bad:
        raise DocumentError(
            f"{where} key {bad[0]} must be a string, got {_json_type(data[bad[0]])}"
        )
    return values, numbers


def _emit_text(numbers: Mapping[str, int | float], key: str, text: str) -> str | int | float:
    """Write a text field back: as the number it was read from if its text is unchanged."""
    number = numbers.get(key)
    if number is not None:
        original = _as_text(number)
        if original is not None and original[0] == text:
            return number
    return text


def _optional_text(fields: Mapping[str, Any], key: str) -> str | None:
    text = _as_text(fields.get(key))
    return None if text is None else text[0]


def _unrecognized(data: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in known}


# --- dates and identifiers ------------------------------------------------------------------------


def parse_date(value: str) -> datetime:
    """Parse a strict ``YYYY-MM-DDTHH:MM:SSZ`` timestamp (reference §1.3) as an aware UTC datetime.

    No fractions, no offsets, no lower-case ``z``, no other separators. Raises DocumentError
    naming the value otherwise (also for an impossible date such as 2011-02-30).
    """
    if not isinstance(value, str):
        raise DocumentError(f"invalid date {_show(value)}: expected a string {_DATE_SHAPE}")
    match = _DATE_RE.fullmatch(value)
    if match is None:
        raise DocumentError(f"invalid date {_show(value)}: expected {_DATE_SHAPE}")
    year, month, day, hour, minute, second = (int(group) for group in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise DocumentError(f"invalid date {_show(value)}: {exc}") from None


def format_date(value: datetime) -> str:
    """Format a datetime as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC.

    An aware datetime is converted to UTC; a naive one is taken as UTC. Microseconds are
    dropped.
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"
    )


def _utc_seconds(value: datetime) -> datetime:
    """Normalise to an aware UTC datetime with whole seconds (what the document can carry)."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    else:
        value = value.astimezone(UTC)
    return value.replace(microsecond=0)


def is_safe_identifier(value: str) -> bool:
    """True if ``value`` is safe to use as one file-name component.

    1-128 characters from ``A-Z a-z 0-9 . _ : @ + -``, starting with a letter or digit, and no
    ``..``. So no ``/``, NUL, whitespace, shell metacharacters or non-ASCII. The document does
    not reject unsafe image ids itself; the subscriber and the cache use this check.
    """
    return isinstance(value, str) and _SAFE_ID_RE.fullmatch(value) is not None and ".." not in value
