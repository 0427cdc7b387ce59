"""Guards against hostile JSON: the decoder and the checks every image list passes first.

Nothing here knows the image-list keys. :func:`decode` turns bytes into plain dicts and lists of
JSON values or raises one-line :class:`~imagelist.errors.DocumentError`: not UTF-8, not JSON,
NaN or infinity, an integer outside signed 64 bits, nesting deeper than :data:`MAX_DEPTH`, a lone
surrogate. :func:`clean` applies the same checks to caller-built mappings (and copies them).
Also the short renderings of input values that messages use.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from imagelist.errors import DocumentError, NullListError

#: Deepest JSON nesting (objects and arrays) accepted. Real lists nest about 5 deep.
MAX_DEPTH = 64
#: Every JSON integer of a list must be a signed 64-bit value (what a database column holds);
#: anything else makes the whole list invalid (exit 38).
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1

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


def _reject_constant(name: str) -> Any:
    raise DocumentError(f"image list is not valid JSON: {name} is not a JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DocumentError(f"image list is not valid JSON: number {_show(text)} is out of range")
    return value


def _decode_stdlib(data: bytes) -> object:
    """:mod:`json` with hooks that refuse what a list may not hold.

    Slower than :func:`decode`'s fast path (a Python call per integer), but it names every problem
    exactly, so it runs whenever the fast path is not sure.
    """
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
        raise DocumentError(f"image list JSON is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # an integer beyond Python's conversion limit (4300 digits)
        raise DocumentError(f"image list is not valid JSON: {_show(str(exc))}") from None
    if isinstance(obj, dict) and _ESCAPED_SURROGATE_RE.search(text):
        _clean(obj)  # only escapes can make lone surrogates; let the full check name it
    return obj


def _prepare(data: bytes) -> bytes:
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise DocumentError(f"image list must be bytes, got {type(data).__name__}")
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def _top(obj: object) -> dict[str, Any]:
    if obj is None:
        raise NullListError("image list is the JSON literal null")
    if not isinstance(obj, dict):
        raise DocumentError(f"image list must be a JSON object, got {_json_type(obj)}")
    _check_depth(obj)
    return obj


def decode(data: bytes) -> dict[str, Any]:
    """Decode a JSON image list into plain dicts and lists, refusing what a list may not hold.

    Raises DocumentError (one line): not bytes, not UTF-8, not JSON (with line and column), NaN
    or infinity, an integer outside signed 64 bits, nesting deeper than MAX_DEPTH, a lone
    surrogate, not an object; NullListError (exit 37) for the literal ``null``. A leading UTF-8
    BOM is dropped. This is the reference decoder; :func:`decode_fast` is the usual one.
    """
    return _top(_decode_stdlib(_prepare(data)))


def decode_fast(data: bytes) -> dict[str, Any] | None:
    """Decode with orjson (a C decoder, several times faster), or None when orjson refuses.

    orjson refuses NaN, infinity, invalid UTF-8, lone surrogates and malformed JSON, as
    :func:`decode` does, but without its wording: None means "ask :func:`decode`". It reads an
    integer beyond 64 bits as a float and one in 2**63..2**64-1 as an int, and it allows nesting
    down to 1,024 levels. So the caller must pass every part it did not check itself to
    :func:`unsure_number`, which also enforces MAX_DEPTH, and on True use :func:`decode`.
    """
    prepared = _prepare(data)
    try:
        obj = orjson.loads(prepared)
    except orjson.JSONDecodeError:
        return None
    if obj is None:
        raise NullListError("image list is the JSON literal null")
    if not isinstance(obj, dict):
        raise DocumentError(f"image list must be a JSON object, got {_json_type(obj)}")
    return obj


def unsure_number(values: Iterable[object], depth: int) -> bool:
    """True if ``values`` (parts of :func:`decode_fast`'s result, each ``depth`` containers deep,
    the top object being 1) hold a float or an integer outside signed 64 bits: a number orjson
    may have read otherwise than :func:`decode` would. Raises DocumentError for containers
    nested deeper than MAX_DEPTH."""
    stack: list[tuple[object, int]] = [(value, depth) for value in values]
    while stack:
        node, level = stack.pop()
        if type(node) is float:
            return True
        if type(node) is int:
            if not MIN_INTEGER <= node <= MAX_INTEGER:
                return True
        elif type(node) is dict or type(node) is list:
            if level > MAX_DEPTH:
                raise DocumentError(f"image list JSON is nested deeper than {MAX_DEPTH} levels")
            children = node.values() if type(node) is dict else node
            stack.extend((child, level + 1) for child in children)
    return False
