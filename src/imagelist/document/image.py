"""One ``hv:image`` of a list (reference §1.1): the typed ``Image`` and ``DroppedImage``, what an
unusable element becomes. Two parsers: a fast one for the usual image (checked at once, built
lazily) and the general one, which names every problem; they agree (tests prove it).
"""

from __future__ import annotations

import copy
import itertools
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imagelist.document.fields import (
    _IMAGE_KEY_SET,
    _IMAGE_TEXT_ATTRS,
    _IMAGE_TEXT_FIELDS,
    _IMAGE_TEXT_GETTER,
    _MAX_INT_DIGITS,
    _SHA512_ANY_CASE_RE,
    _SHA512_RE,
    _SIZE_RE,
    MAX_IMAGE_SIZE,
    REQUIRED_IMAGE_KEYS,
    _as_text,
    _emit_text,
    _optional_text,
    _oversize,
    _read_text_fields,
    _unrecognized,
)
from imagelist.document.guards import (
    _clean,
    _json_type,
    _show,
)
from imagelist.errors import DocumentError

_JUST_DICT = {dict}
_JUST_ONE = {1}
_GET_IMAGE = operator.itemgetter("hv:image")
_GET_IDENTIFIER = operator.itemgetter("dc:identifier")
_GET_SIZE = operator.itemgetter("hv:size")


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
        """The hot path for the usual image: the twelve keys present, every value a string but
        ``hv:size``, an integer or a digit string in range. None means: take the general path.

        The image is checked here, in full, but built lazily: it keeps ``data`` (which nobody
        else holds) and fills its attributes on first use (:meth:`_materialize`), so verifying a
        list of 1,000 images does not pay for 1,000 objects nobody reads. As every value but
        the size is a string, it holds no number orjson may have read otherwise and no nesting.
        """
        if not data.keys() >= _IMAGE_KEY_SET:
            return None
        raw_size = data["hv:size"]
        types = list(map(type, data.values()))
        strings = types.count(str)
        if strings == len(types):  # hv:size is a string too
            if not (
                raw_size.isdigit()
                and raw_size.isascii()
                and len(raw_size) < 20
                and int(raw_size) <= MAX_IMAGE_SIZE
            ):
                return None
        elif not (
            strings == len(types) - 1 and type(raw_size) is int and 0 <= raw_size <= MAX_IMAGE_SIZE
        ):
            return None
        image = object.__new__(cls)
        object.__setattr__(image, "__dict__", {"identifier": data["dc:identifier"], "_lazy": data})
        return image

    def _materialize(self, data: dict[str, Any]) -> dict[str, Any]:
        """Fill the attributes of a lazy image (:meth:`_parse_common`, :meth:`_parse_all_common`)
        from its mapping; returns them.

        Idempotent and safe in threads: the attributes replace the lazy state in one step (the
        new ``__dict__``), and two threads that both fill them set the same values.
        """
        state = dict(zip(_IMAGE_TEXT_ATTRS, _IMAGE_TEXT_GETTER(data), strict=True))
        sha512 = state["sha512"]
        if len(sha512) == 128 and _SHA512_ANY_CASE_RE.fullmatch(sha512):
            state["sha512"] = sha512.lower()
        raw_size = data["hv:size"]
        state["size"] = int(raw_size)
        state["unrecognized_fields"] = {k: data[k] for k in data.keys() - _IMAGE_KEY_SET}
        state["_numbers"] = {}
        state["_size_text"] = raw_size if type(raw_size) is str else None
        object.__setattr__(self, "__dict__", state)
        return state

    if not TYPE_CHECKING:  # for mypy every field is a plain attribute

        def __getattr__(self, name: str) -> Any:
            # Only called for an attribute not found the usual way: a lazy image's fields.
            if name.startswith("__") or name == "_lazy":
                raise AttributeError(name)
            try:
                data = self._lazy  # read the usual way: no dict is made for a lazy image
            except AttributeError:  # not lazy, or filled meanwhile by another thread
                data = None
            state = self.__dict__ if data is None else self._materialize(data)
            try:
                return state[name]
            except KeyError:
                raise AttributeError(name) from None

    @classmethod
    def _parse_all_common(cls, elements: list[Any]) -> tuple[Image, ...] | None:
        """:meth:`_parse_common` for a whole ``hv:images`` array at once, or None unless every
        element is ``{"hv:image": {...}}`` with a usual image and no identifier repeats.

        The same checks, one built-in pass over all images per check instead of a Python call
        per image: the type census is counted over every value of every image. An int
        ``hv:size`` is a value that is not a string, so "as many values that are not strings
        as sizes that are ints" means exactly "every value is a string, but those sizes".
        """
        count = len(elements)
        if set(map(type, elements)) != _JUST_DICT or set(map(len, elements)) != _JUST_ONE:
            return None
        try:
            images = list(map(_GET_IMAGE, elements))
        except KeyError:
            return None
        if set(map(type, images)) != _JUST_DICT:
            return None
        # The twelve keys, checked once per layout (orjson gives every image the same key
        # objects, so a list usually has one layout: its key tuples compare by identity).
        if not all(map(_IMAGE_KEY_SET.issubset, set(map(tuple, images)))):
            return None
        raw_sizes = list(map(_GET_SIZE, images))
        int_sizes = list(map(type, raw_sizes)).count(int)
        value_types = list(map(type, itertools.chain.from_iterable(map(dict.values, images))))
        if len(value_types) - value_types.count(str) != int_sizes:
            return None  # so every value is a string, but the sizes that are ints
        if int_sizes:
            ints = raw_sizes if int_sizes == count else [s for s in raw_sizes if type(s) is int]
            if min(ints) < 0 or max(ints) > MAX_IMAGE_SIZE:
                return None
        if int_sizes != count:
            texts = raw_sizes if not int_sizes else [s for s in raw_sizes if type(s) is str]
            if not (
                all(map(str.isdigit, texts))
                and all(map(str.isascii, texts))
                and max(map(len, texts)) < 20
                and max(map(int, texts)) <= MAX_IMAGE_SIZE
            ):
                return None
        identifiers = list(map(_GET_IDENTIFIER, images))  # strings, as every value but sizes
        if len(set(identifiers)) != count:
            return None  # the element loop names each repeat
        # Lazy images as _parse_common builds them, but holding only their mapping (the
        # identifier too is read on first use): a bare object and one attribute, which the
        # interpreter keeps without a dict of its own, so one object per image for the
        # garbage collector to track instead of two.
        built = list(map(object.__new__, itertools.repeat(cls, count)))
        for _ in map(object.__setattr__, built, itertools.repeat("_lazy"), images):
            pass
        return tuple(built)

    @classmethod
    def _parse(cls, data: object) -> Image | DroppedImage:
        """An Image, or a DroppedImage saying why this element cannot be one."""
        if type(data) is dict:
            common = cls._parse_common(data)
            if common is not None:
                return common
        return cls._parse_general(data)

    @classmethod
    def _parse_general(cls, data: object) -> Image | DroppedImage:
        """The general path: every case, with a reason for each problem (and the reference the
        fast path must agree with)."""
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
