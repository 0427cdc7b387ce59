"""The HEPiX image list document (reference §1.1-§1.3) as typed, immutable objects.

Pure data: no file or network I/O. Parsing is permissive where the original tools were
(unknown keys are kept verbatim in ``unrecognized_fields`` and written back unchanged; an image
that lacks a required key is dropped and reported, not fatal) and strict where they were (the
list-level and endorser keys, the date format). Every document problem raises
:class:`~imagelist.errors.DocumentError` with a one-line message; ``from_bytes`` and the
``from_dict`` constructors raise nothing else, whatever the input.

Equality (``==``) compares the document content. It ignores how a document was read
(``warnings``, ``dropped_images``, ``legacy_unwrapped``) and the remembered JSON forms of values
(a number given for a text key, ``hv:size`` given as a string).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import operator
import re
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imagelist.errors import DocumentError

__all__ = [
    "MAX_DEPTH",
    "MAX_IMAGE_SIZE",
    "MAX_INTEGER",
    "MIN_INTEGER",
    "REQUIRED_ENDORSER_KEYS",
    "REQUIRED_IMAGE_KEYS",
    "REQUIRED_LIST_KEYS",
    "DroppedImage",
    "Endorser",
    "Image",
    "ImageList",
    "format_date",
    "is_safe_identifier",
    "parse_date",
]

logger = logging.getLogger(__name__)

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
MAX_DEPTH = 64
#: Every JSON integer of a list must be a signed 64-bit value (what a database column holds);
#: anything else makes the whole list invalid (exit 38).
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1
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
_ESCAPED_SURROGATE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_BOM = b"\xef\xbb\xbf"
_MAX_NAMED_KEYS = 5
_MAX_INT_DIGITS = 4000  # below Python's int/str conversion limit (4300)
_MAX_INTEGER_DIGITS = 20  # "-9223372036854775808" is 20 characters

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 2
_short.maxdict = 3
_short.maxlist = 3
_short.maxtuple = 3
_short.maxlong = 60


# --- small helpers --------------------------------------------------------------------------------


def _show(value: object) -> str:
    """A short, one-line rendering of an input value for messages (long values are cut)."""
    try:
        return _short.repr(value)
    except ValueError:  # e.g. an int too long to render under Python's int/str limit
        return f"<{_json_type(value)}>"


def _show_keys(keys: list[str]) -> str:
    """Name input keys in a message: repr'd, and at most a handful of them."""
    shown = ", ".join(_show(key) for key in keys[:_MAX_NAMED_KEYS])
    if len(keys) > _MAX_NAMED_KEYS:
        shown += f" and {len(keys) - _MAX_NAMED_KEYS} more"
    return shown


def _json_type(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _out_of_range(shown: str) -> DocumentError:
    return DocumentError(
        f"image list is not valid: number {shown} is out of range "
        f"(integers must lie in {MIN_INTEGER}..{MAX_INTEGER})"
    )


def _parse_int(text: str) -> int:
    """``json.loads``'s integer hook: only signed 64-bit integers are accepted."""
    if len(text) > _MAX_INTEGER_DIGITS:
        shown = text if len(text) <= 40 else f"{text[:24]}... ({len(text)} digits)"
        raise _out_of_range(shown)
    value = int(text)
    if not MIN_INTEGER <= value <= MAX_INTEGER:
        raise _out_of_range(text)
    return value


def _check_integer(value: int) -> None:
    if not MIN_INTEGER <= value <= MAX_INTEGER:
        raise _out_of_range(_show(value))


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


def _emit_text(numbers: Mapping[str, int | float], key: str, text: str) -> str | int | float:
    """Write a text field back: as the number it was read from if its text is unchanged."""
    number = numbers.get(key)
    if number is not None:
        original = _as_text(number)
        if original is not None and original[0] == text:
            return number
    return text


def _clean_json(
    value: object, depth: int, memo: dict[int, tuple[object, int]]
) -> tuple[object, int]:
    """Copy a JSON-like value into plain dicts/lists, checking it on the way.

    Returns (copy, height), height being the number of nested containers. Raises
    DocumentError for non-string keys, non-JSON types, lone surrogates in strings and nesting
    deeper than MAX_DEPTH (which also stops cyclic structures). Shared sub-objects are copied
    once (``memo``), so the work is linear in the input.
    """
    if value is None or isinstance(value, bool | float):
        return value, 0
    if isinstance(value, int):
        _check_integer(value)
        return value, 0
    if isinstance(value, str):
        if _SURROGATE_RE.search(value):
            raise DocumentError(
                f"image list contains a string with a lone surrogate: {_show(value)}"
            )
        return value, 0
    if not isinstance(value, Mapping | list | tuple):
        raise DocumentError(f"image list contains a value that is not JSON: {_json_type(value)}")
    seen = memo.get(id(value))
    if seen is not None:
        if depth + seen[1] > MAX_DEPTH:
            raise DocumentError(f"image list JSON is nested deeper than {MAX_DEPTH} levels")
        return seen
    if depth >= MAX_DEPTH:
        raise DocumentError(f"image list JSON is nested deeper than {MAX_DEPTH} levels")
    height = 0
    result: object
    if isinstance(value, Mapping):
        mapping: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise DocumentError(
                    f"image list contains an object key that is not a string: {_show(key)}"
                )
            _clean_json(key, depth, memo)  # the surrogate check
            mapping[key], item_height = _clean_json(item, depth + 1, memo)
            height = max(height, item_height)
        result = mapping
    else:
        items: list[object] = []
        for item in value:
            copied, item_height = _clean_json(item, depth + 1, memo)
            items.append(copied)
            height = max(height, item_height)
        result = items
    memo[id(value)] = (result, height + 1)
    return result, height + 1


_CONTAINER_TYPES = frozenset({dict, list})


def _check_depth(value: object) -> None:
    """Reject containers nested deeper than MAX_DEPTH in freshly decoded JSON.

    The fast path of :meth:`ImageList.from_bytes`: ``json.loads`` output holds only JSON types,
    so only the nesting needs checking, and only containers are visited.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DocumentError(f"image list JSON is nested deeper than {MAX_DEPTH} levels")
        children: Iterable[Any] = node.values() if type(node) is dict else node
        if _CONTAINER_TYPES.isdisjoint(map(type, children)):
            continue  # the usual leaf object: strings and numbers only, checked at C speed
        for child in children:
            if type(child) in _CONTAINER_TYPES:
                stack.append((child, depth + 1))


def _clean(value: object) -> object:
    """Validate and copy caller input (see _clean_json)."""
    return _clean_json(value, 0, {})[0]


def _warn(warnings: list[str], message: str) -> None:
    """Record a parse warning and log it."""
    warnings.append(message)
    logger.warning("%s", message)


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


# --- the endorser ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Endorser:
    """The ``hv:x509`` object: who signs the list (reference §1.1).

    ``dn`` and ``ca`` are the OpenSSL one-line subject of the signer certificate and of its
    issuer; the subscriber compares them with the signer byte for byte.
    """

    dn: str
    ca: str
    email: str
    creator: str
    unrecognized_fields: dict[str, Any] = field(default_factory=dict, hash=False)
    _numbers: dict[str, int | float] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Endorser:
        """Read the inner ``hv:x509`` mapping. Raises DocumentError naming a missing or bad key."""
        return cls._from_clean(_clean(data), "endorser")

    @classmethod
    def _from_clean(cls, data: object, where: str) -> Endorser:
        if not isinstance(data, dict):
            raise DocumentError(f"{where} must be an object, got {_json_type(data)}")
        missing = [key for key in REQUIRED_ENDORSER_KEYS if key not in data]
        if missing:
            raise DocumentError(f"{where} is missing required key(s): {', '.join(missing)}")
        values, numbers, bad = _read_text_fields(data, _ENDORSER_TEXT_FIELDS)
        if bad:
            raise DocumentError(
                f"{where} key {bad[0]} must be a string, got {_json_type(data[bad[0]])}"
            )
        return cls(
            **values,
            unrecognized_fields=_unrecognized(data, REQUIRED_ENDORSER_KEYS),
            _numbers=numbers,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``hv:x509`` mapping, unknown keys included."""
        out: dict[str, Any] = copy.deepcopy(self.unrecognized_fields)
        for attr, key in _ENDORSER_TEXT_FIELDS:
            out[key] = _emit_text(self._numbers, key, getattr(self, attr))
        return out


# --- images ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DroppedImage:
    """An ``hv:images`` element that was not kept; the subscriber treats it as a revocation.

    ``identifier`` is the element's ``dc:identifier`` if it has a usable one, ``missing`` the
    required keys it lacks, ``invalid`` the keys whose value is unusable, ``reason`` one line.
    """

    identifier: str | None
    missing: tuple[str, ...]
    reason: str
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Image:
    """One ``hv:image`` (reference §1.1). ``size`` is in bytes; ``sha512`` is lower-case hex.

    ``sha512`` is kept verbatim when it is not 128 hex digits (the document layer is
    permissive); check :attr:`has_valid_sha512` before trusting it.
    """

    identifier: str
    title: str
    description: str
    uri: str
    size: int
    sha512: str
    arch: str
    os: str
    osversion: str
    comments: str
    hypervisor: str
    version: str
    unrecognized_fields: dict[str, Any] = field(default_factory=dict, hash=False)
    _numbers: dict[str, int | float] = field(default_factory=dict, repr=False, compare=False)
    _size_text: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise DocumentError(
                f"image size must be a non-negative integer, got {_show(self.size)}"
            )
        if self.size > MAX_IMAGE_SIZE:
            raise _oversize(self.identifier, self.size)
        if isinstance(self.sha512, str) and _SHA512_ANY_CASE_RE.fullmatch(self.sha512):
            object.__setattr__(self, "sha512", self.sha512.lower())

    @property
    def has_valid_sha512(self) -> bool:
        """True if ``sha512`` is 128 hex digits (stored lower-case)."""
        return _SHA512_RE.fullmatch(self.sha512) is not None

    @property
    def format(self) -> str | None:
        """``hv:format`` (e.g. "OVA", "QCOW2", "img.gz"), or None."""
        return _optional_text(self.unrecognized_fields, "hv:format")

    @property
    def mpuri(self) -> str | None:
        """``ad:mpuri`` (the AppDB marketplace URI), or None."""
        return _optional_text(self.unrecognized_fields, "ad:mpuri")

    def equal_content(self, other: Image) -> bool:
        """True if both images describe the same content (same as ``==``)."""
        return self == other

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Image:
        """Read the inner ``hv:image`` mapping. Raises DocumentError if the image is unusable."""
        result = cls._parse(_clean(data))
        if isinstance(result, DroppedImage):
            raise DocumentError(f"image {_show(result.identifier)} is invalid: {result.reason}")
        return result

    @classmethod
    def _parse_common(cls, data: dict[str, Any]) -> Image | None:
        """The hot path for the usual image: every text key a string, ``hv:size`` an integer or a
        digit string. Builds the frozen instance without the per-field checks of ``__init__``
        (all of which hold here by construction). None means: take the general path."""
        try:
            texts = _IMAGE_TEXT_GETTER(data)
            raw_size = data["hv:size"]
        except KeyError:
            return None
        try:
            "".join(texts)  # a TypeError names a non-string faster than a loop would
        except TypeError:
            return None
        size_text: str | None = None
        if type(raw_size) is int and 0 <= raw_size <= MAX_IMAGE_SIZE:
            size = raw_size
        elif (
            type(raw_size) is str
            and len(raw_size) <= _MAX_INT_DIGITS
            and raw_size.isdigit()
            and raw_size.isascii()
            and len(raw_size) < 20
            and int(raw_size) <= MAX_IMAGE_SIZE
        ):
            size, size_text = int(raw_size), raw_size
        else:
            return None
        fields = dict(zip(_IMAGE_TEXT_ATTRS, texts, strict=True))
        if len(fields["sha512"]) == 128 and _SHA512_ANY_CASE_RE.fullmatch(fields["sha512"]):
            fields["sha512"] = fields["sha512"].lower()
        image = object.__new__(cls)
        image.__dict__.update(
            fields,
            size=size,
            unrecognized_fields={k: data[k] for k in data.keys() - _IMAGE_KEY_SET},
            _numbers={},
            _size_text=size_text,
        )
        return image

    @classmethod
    def _parse(cls, data: object) -> Image | DroppedImage:
        """An Image, or a DroppedImage saying why this element cannot be one."""
        if type(data) is dict:
            common = cls._parse_common(data)
            if common is not None:
                return common
        if not isinstance(data, dict):
            return DroppedImage(None, (), f"hv:image is not an object (got {_json_type(data)})")
        identifier = _as_text(data.get("dc:identifier"))
        ident = None if identifier is None else identifier[0]
        missing = tuple(key for key in REQUIRED_IMAGE_KEYS if key not in data)
        values, numbers, invalid = _read_text_fields(data, _IMAGE_TEXT_FIELDS)
        problems = [f"invalid {key}: {_show(data[key])} (expected a string)" for key in invalid]
        size_text: str | None = None
        size = 0
        if "hv:size" in data:
            raw = data["hv:size"]
            if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
                size = raw
            elif isinstance(raw, str) and _SIZE_RE.fullmatch(raw) and len(raw) <= _MAX_INT_DIGITS:
                size, size_text = int(raw), raw
            else:
                invalid.append("hv:size")
                problems.append(
                    f"invalid hv:size: {_show(raw)} "
                    "(expected a non-negative integer or a string of decimal digits)"
                )
            if size > MAX_IMAGE_SIZE:
                raise _oversize(ident, size)
        if missing or invalid:
            if missing:
                problems.insert(0, f"missing required key(s): {', '.join(missing)}")
            return DroppedImage(ident, missing, "; ".join(problems), tuple(invalid))
        return cls(
            **values,
            size=size,
            unrecognized_fields=_unrecognized(data, REQUIRED_IMAGE_KEYS),
            _numbers=numbers,
            _size_text=size_text,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``hv:image`` mapping, unknown keys included, values in the form they were read."""
        out: dict[str, Any] = copy.deepcopy(self.unrecognized_fields)
        for attr, key in _IMAGE_TEXT_FIELDS:
            out[key] = _emit_text(self._numbers, key, getattr(self, attr))
        size: int | str = self.size
        if self._size_text is not None:
            same = _SIZE_RE.fullmatch(self._size_text) and int(self._size_text) == self.size
            size = self._size_text if same else str(self.size)
        out["hv:size"] = size
        return out


# --- the list -------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise DocumentError(f"image list is not valid JSON: {name} is not a JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DocumentError(f"image list is not valid JSON: number {_show(text)} is out of range")
    return value


@dataclass(frozen=True, kw_only=True)
class ImageList:
    """A whole image list: list metadata, its endorser(s) and its images (reference §1.1).

    ``created`` and ``expires`` are aware UTC datetimes with whole seconds (a naive value is
    taken as UTC). ``endorsers`` holds at least one endorser. ``dropped_images`` and
    ``warnings`` report what reading the document had to skip; they, ``legacy_unwrapped`` and
    the JSON forms of values are not part of equality.
    """

    identifier: str
    title: str
    description: str
    source: str
    created: datetime
    expires: datetime
    version: str
    uri: str
    endorsers: tuple[Endorser, ...]
    images: tuple[Image, ...] = ()
    dropped_images: tuple[DroppedImage, ...] = field(default=(), compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    legacy_unwrapped: bool = field(default=False, compare=False)
    unrecognized_fields: dict[str, Any] = field(default_factory=dict, hash=False)
    _numbers: dict[str, int | float] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "created", _utc_seconds(self.created))
        object.__setattr__(self, "expires", _utc_seconds(self.expires))
        object.__setattr__(self, "endorsers", tuple(self.endorsers))
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "dropped_images", tuple(self.dropped_images))
        object.__setattr__(self, "warnings", tuple(self.warnings))
        if not self.endorsers:
            raise DocumentError("image list has no endorser")

    @property
    def endorser(self) -> Endorser:
        """The first endorser: the one written back and usually the only one."""
        return self.endorsers[0]

    @property
    def vo(self) -> str | None:
        """``ad:vo`` (AppDB VO-wide lists), or None."""
        return _optional_text(self.unrecognized_fields, "ad:vo")

    def endorser_for(self, dn: str, ca: str) -> Endorser | None:
        """The first endorser whose ``dn`` and ``ca`` equal the given strings exactly, or None."""
        for endorser in self.endorsers:
            if endorser.dn == dn and endorser.ca == ca:
                return endorser
        return None

    # --- reading ----------------------------------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageList:
        """Parse a JSON image list (UTF-8, a leading BOM tolerated).

        Raises DocumentError (one line) for any problem: not UTF-8, not JSON (with line and
        column), nested deeper than MAX_DEPTH, not an object, or not a valid list. The JSON
        literal ``null`` gives exit code 37, as vmcatcher (reference §1.5 step 3).
        """
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise DocumentError(f"image list must be bytes, got {type(data).__name__}")
        if data.startswith(_BOM):
            data = data[len(_BOM) :]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentError(
                f"image list is not valid UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
        try:
            obj = json.loads(
                text,
                parse_constant=_reject_constant,
                parse_float=_parse_float,
                parse_int=_parse_int,
            )
        except json.JSONDecodeError as exc:
            raise DocumentError(
                f"image list is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            raise DocumentError(
                f"image list JSON is nested deeper than {MAX_DEPTH} levels"
            ) from None
        except ValueError as exc:  # an integer beyond Python's conversion limit (4300 digits)
            raise DocumentError(f"image list is not valid JSON: {_show(str(exc))}") from None
        if obj is None:
            raise DocumentError("image list is the JSON literal null", exit_code=37)
        if not isinstance(obj, dict):
            raise DocumentError(f"image list must be a JSON object, got {_json_type(obj)}")
        if _ESCAPED_SURROGATE_RE.search(text):
            _clean(obj)  # only escapes can make lone surrogates; let the full check name it
        _check_depth(obj)
        return cls._from_clean(obj)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageList:
        """Read a decoded image list: ``{"hv:imagelist": {...}}`` or the legacy unwrapped form.

        Raises DocumentError (one line, naming the key) for a missing or bad list-level or
        endorser key. Images that miss a key or have a bad value are dropped and reported in
        ``dropped_images`` and ``warnings``.
        """
        return cls._from_clean(_clean(data))

    @classmethod
    def _from_clean(cls, top: object) -> ImageList:
        warnings: list[str] = []
        if not isinstance(top, dict):
            raise DocumentError(f"image list must be a JSON object, got {_json_type(top)}")
        legacy = _WRAPPER not in top
        if not legacy:
            body = top[_WRAPPER]
            if not isinstance(body, dict):
                raise DocumentError(f"{_WRAPPER} must be an object, got {_json_type(body)}")
            extra = sorted(key for key in top if key != _WRAPPER)
            if extra:
                _warn(warnings, f"ignored top-level key(s) beside {_WRAPPER}: {_show_keys(extra)}")
        elif any(key in top for key in REQUIRED_LIST_KEYS):
            body = top
            _warn(
                warnings,
                f"image list has no {_WRAPPER} wrapper (deprecated form): "
                "reading the top-level object as the list",
            )
        else:
            raise DocumentError(f"image list has no {_WRAPPER} object")

        missing = [key for key in REQUIRED_LIST_KEYS if key not in body]
        if missing:
            raise DocumentError(f"image list is missing required key(s): {', '.join(missing)}")
        values, numbers, bad = _read_text_fields(body, _LIST_TEXT_FIELDS)
        if bad:
            raise DocumentError(
                f"image list key {bad[0]} must be a string, got {_json_type(body[bad[0]])}"
            )
        dates: dict[str, Any] = {}
        for attr, key in (("created", "dc:date:created"), ("expires", "dc:date:expires")):
            try:
                dates[attr] = parse_date(body[key])
            except DocumentError as exc:
                raise DocumentError(f"image list key {key}: {exc}") from None
        endorsers = _read_endorsers(body["hv:endorser"], warnings)
        images, dropped = _read_images(body["hv:images"], warnings)
        return cls(
            **values,
            **dates,
            endorsers=endorsers,
            images=images,
            dropped_images=dropped,
            warnings=tuple(warnings),
            legacy_unwrapped=legacy,
            unrecognized_fields=_unrecognized(body, REQUIRED_LIST_KEYS),
            _numbers=numbers,
        )

    # --- writing ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"hv:imagelist": {...}}``: dates formatted, the first endorser as a single object
        (never an array), images wrapped in ``{"hv:image": ...}``, unknown keys kept.

        A required key repeated in ``unrecognized_fields`` is overwritten by the attribute.
        """
        body: dict[str, Any] = copy.deepcopy(self.unrecognized_fields)
        for attr, key in _LIST_TEXT_FIELDS:
            body[key] = _emit_text(self._numbers, key, getattr(self, attr))
        body["dc:date:created"] = format_date(self.created)
        body["dc:date:expires"] = format_date(self.expires)
        body["hv:endorser"] = {"hv:x509": self.endorser.to_dict()}
        body["hv:images"] = [{"hv:image": image.to_dict()} for image in self.images]
        return {_WRAPPER: body}

    def to_json_bytes(self, *, indent: int = 4) -> bytes:
        """The list as UTF-8 JSON: sorted keys, ``indent`` spaces, LF line ends, non-ASCII kept.

        Items are separated by ``","`` (no trailing spaces, unlike the Python 2 tools) and there
        is no trailing newline. Sign exactly these bytes; never re-serialise a signed list.
        """
        text = json.dumps(self.to_dict(), sort_keys=True, indent=indent, ensure_ascii=False)
        return text.encode("utf-8")


def _read_endorsers(value: object, warnings: list[str]) -> tuple[Endorser, ...]:
    """``hv:endorser``: an object ``{"hv:x509": {...}}`` or a non-empty array of them."""
    if isinstance(value, list):
        if not value:
            raise DocumentError("image list key hv:endorser is an empty array")
        wrappers = [(f"hv:endorser[{index}]", item) for index, item in enumerate(value)]
    else:
        wrappers = [("hv:endorser", value)]
    endorsers: list[Endorser] = []
    for where, wrapper in wrappers:
        if not isinstance(wrapper, dict):
            raise DocumentError(f"{where} must be an object, got {_json_type(wrapper)}")
        if "hv:x509" not in wrapper:
            raise DocumentError(f"{where} has no hv:x509 object")
        extra = sorted(key for key in wrapper if key != "hv:x509")
        if extra:
            _warn(warnings, f"{where}: ignored key(s) beside hv:x509: {_show_keys(extra)}")
        endorsers.append(Endorser._from_clean(wrapper["hv:x509"], f"{where}/hv:x509"))
    return tuple(endorsers)


def _read_images(
    value: object, warnings: list[str]
) -> tuple[tuple[Image, ...], tuple[DroppedImage, ...]]:
    """``hv:images``: keep the usable images, report the others as dropped."""
    if not isinstance(value, list):
        raise DocumentError(f"image list key hv:images must be an array, got {_json_type(value)}")
    images: list[Image] = []
    dropped: list[DroppedImage] = []
    seen: set[str] = set()
    for index, wrapper in enumerate(value):
        if (
            type(wrapper) is dict
            and len(wrapper) == 1
            and type(inner := wrapper.get("hv:image")) is dict
        ):
            common = Image._parse_common(inner)  # the usual entry, without the checks below
            if common is not None and common.identifier not in seen:
                seen.add(common.identifier)
                images.append(common)
                continue
        where = f"hv:images[{index}]"
        result: Image | DroppedImage
        if not isinstance(wrapper, dict):
            result = DroppedImage(None, (), f"not an object (got {_json_type(wrapper)})")
        elif "hv:image" not in wrapper:
            result = DroppedImage(None, (), "no hv:image object")
        else:
            extra = sorted(key for key in wrapper if key != "hv:image")
            if extra:
                _warn(warnings, f"{where}: ignored key(s) beside hv:image: {_show_keys(extra)}")
            result = Image._parse(wrapper["hv:image"])
        if isinstance(result, DroppedImage):
            dropped.append(result)
            _warn(warnings, f"{where}: image {_show(result.identifier)} dropped: {result.reason}")
            continue
        if result.identifier in seen:
            _warn(warnings, f"{where}: image {_show(result.identifier)} is listed more than once")
        seen.add(result.identifier)
        images.append(result)
    return tuple(images), tuple(dropped)
