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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imagelist.document.fields import (
    _ENDORSER_TEXT_FIELDS,
    _LIST_TEXT_FIELDS,
    _WRAPPER,
    REQUIRED_ENDORSER_KEYS,
    REQUIRED_LIST_KEYS,
    _emit_text,
    _optional_text,
    _read_required_text,
    _unrecognized,
    _utc_seconds,
    format_date,
    parse_date,
)
from imagelist.document.guards import (
    _clean,
    _json_type,
    _show,
    _show_keys,
    decode,
    decode_fast,
    unsure_number,
)
from imagelist.document.image import DroppedImage, Image
from imagelist.errors import DocumentError

logger = logging.getLogger("imagelist.document")

#: How deep an ``hv:images`` element sits: top, hv:imagelist, hv:images, the element.
_ELEMENT_DEPTH = 4


class _UnsureNumberError(Exception):
    """A list decoded by orjson holds a float or an integer outside 64 bits (see decode_fast)."""


def _warn(warnings: list[str], message: str) -> None:
    """Record a parse warning (logged once the list is read: a failed attempt logs nothing)."""
    warnings.append(message)


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
        values, numbers = _read_required_text(
            data, where, REQUIRED_ENDORSER_KEYS, _ENDORSER_TEXT_FIELDS
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
        fast = decode_fast(data)
        if fast is not None:
            try:
                return cls._from_clean(fast, orjson_numbers=True)
            except (_UnsureNumberError, DocumentError):
                # A number orjson may have read otherwise, or a problem: the reference decoder
                # decides, so every error reads exactly as it always did.
                pass
        return cls._from_clean(decode(data))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageList:
        """Read a decoded image list: ``{"hv:imagelist": {...}}`` or the legacy unwrapped form.

        Raises DocumentError (one line, naming the key) for a missing or bad list-level or
        endorser key. Images that miss a key or have a bad value are dropped and reported in
        ``dropped_images`` and ``warnings``.
        """
        return cls._from_clean(_clean(data))

    @classmethod
    def _from_clean(cls, top: object, *, orjson_numbers: bool = False) -> ImageList:
        """``orjson_numbers``: ``top`` came from :func:`decode_fast`; raise _UnsureNumberError
        on any number it may have read otherwise (the caller then decodes again)."""
        warnings: list[str] = []
        if orjson_numbers and isinstance(top, dict):
            # what the image fast path does not check: every value but hv:images' elements
            body_of = top.get(_WRAPPER, top)
            parts = [(v, 2) for k, v in top.items() if k != _WRAPPER]
            if isinstance(body_of, dict):
                for key, item in body_of.items():
                    if key != "hv:images" or type(item) is not list:
                        parts.append((item, 3 if body_of is not top else 2))
            if any(unsure_number([item], depth) for item, depth in parts):
                raise _UnsureNumberError
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

        values, numbers = _read_required_text(
            body, "image list", REQUIRED_LIST_KEYS, _LIST_TEXT_FIELDS
        )
        dates: dict[str, Any] = {}
        for attr, key in (("created", "dc:date:created"), ("expires", "dc:date:expires")):
            try:
                dates[attr] = parse_date(body[key])
            except DocumentError as exc:
                raise DocumentError(f"image list key {key}: {exc}") from None
        endorsers = _read_endorsers(body["hv:endorser"], warnings)
        images, dropped = _read_images(body["hv:images"], warnings, orjson_numbers)
        result = cls(
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
        for message in warnings:
            logger.warning("%s", message)
        return result

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
    value: object, warnings: list[str], orjson_numbers: bool = False
) -> tuple[tuple[Image, ...], tuple[DroppedImage, ...]]:
    """``hv:images``: keep the usable images, report the others as dropped.

    ``orjson_numbers``: see :meth:`ImageList._from_clean`. The usual image passes the fast path,
    which accepts strings and an in-range ``hv:size`` only; any other element is walked.
    """
    if not isinstance(value, list):
        raise DocumentError(f"image list key hv:images must be an array, got {_json_type(value)}")
    every = Image._parse_all_common(value)
    if every is not None:
        return every, ()
    return _read_each_image(value, warnings, orjson_numbers)


def _read_each_image(
    value: list[Any], warnings: list[str], orjson_numbers: bool = False
) -> tuple[tuple[Image, ...], tuple[DroppedImage, ...]]:
    """:func:`_read_images` one element at a time: every case, with a warning for each problem
    (and the reference :meth:`Image._parse_all_common` must agree with)."""
    images: list[Image] = []
    dropped: list[DroppedImage] = []
    seen: set[str] = set()
    for index, wrapper in enumerate(value):
        if (
            type(wrapper) is dict
            and len(wrapper) == 1
            and type(inner := wrapper.get("hv:image")) is dict
        ):
            # the usual entry, without the checks below
            common = Image._parse_common(inner)
            if common is not None and common.identifier not in seen:
                seen.add(common.identifier)
                images.append(common)
                continue
        if orjson_numbers and unsure_number([wrapper], _ELEMENT_DEPTH):
            raise _UnsureNumberError
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
