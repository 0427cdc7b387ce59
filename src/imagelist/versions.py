"""Version strings of image lists and images: ordering and bumping (reference §2.4.3 and §3.6).

Pure functions, no I/O. Digit runs are handled as text, so arbitrarily long runs work (no
``int()`` conversion and no Python integer-string limit). Only the ASCII digits 0-9 count as
digits.
"""

from __future__ import annotations

import re

__all__ = ["bump_version", "compare_versions", "next_version"]

_SEPARATORS = re.compile(r"([-,./])")
_DIGIT_RUNS = re.compile(r"([0-9]+)")
_ALL_DIGITS = re.compile(r"[0-9]+")


def _split(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Split ``text`` on ``pattern``, keeping the matches as tokens and dropping empty pieces."""
    return [piece for piece in pattern.split(text) if piece]


def _is_digits(token: str) -> bool:
    return _ALL_DIGITS.fullmatch(token) is not None


def _order_digits(a: str, b: str) -> int:
    """Compare two runs of ASCII digits as integers: -1, 0 or 1 (``a`` against ``b``)."""
    a = a.lstrip("0")
    b = b.lstrip("0")
    if len(a) != len(b):
        return 1 if len(a) > len(b) else -1
    return (a > b) - (a < b)


def _order_tokens(xs: list[str], ys: list[str], *, runs: bool) -> int:
    """Order two token lists (``xs`` against ``ys``): -1, 0 or 1.

    With ``runs`` the tokens are digit/non-digit runs and two non-digit runs compare as
    strings; otherwise two non-digit tokens are split into runs and compared that way.
    """
    for x, y in zip(xs, ys, strict=False):
        if x == y:
            continue
        x_digits, y_digits = _is_digits(x), _is_digits(y)
        if x_digits and y_digits:
            result = _order_digits(x, y)
        elif x_digits:
            return 1
        elif y_digits:
            return -1
        elif runs:
            return 1 if x > y else -1
        else:
            result = _order_tokens(_split(x, _DIGIT_RUNS), _split(y, _DIGIT_RUNS), runs=True)
        if result:
            return result
    return (len(xs) > len(ys)) - (len(xs) < len(ys))


def compare_versions(old: str, new: str) -> int:
    """vmcatcher's ``split_numeric_sort(old, new)``: 1 if ``new`` is greater, 0 if equal, else -1.

    Both strings are split into tokens on ``-`` ``,`` ``.`` ``/`` (the separators are tokens
    too) and compared token by token: two all-digit tokens compare as integers, a digit token
    beats a non-digit token, and two non-digit tokens are split into digit and non-digit runs
    compared the same way (non-digit runs as strings). If all common tokens are equal, more
    tokens is greater. So ``0.0.9 < 0.0.10``, ``1a < 1b``, ``v2 < v10`` and (a quirk) ``1a < 1``.

    Digit tokens equal as integers (``01`` and ``1``) are treated as equal and the comparison
    goes on with the next token.
    """
    return _order_tokens(_split(new, _SEPARATORS), _split(old, _SEPARATORS), runs=False)


def _increment_digits(run: str) -> str:
    """Add one to a run of ASCII digits, keeping its width (``"009"`` -> ``"010"``)."""
    digits = list(run)
    index = len(digits) - 1
    while index >= 0 and digits[index] == "9":
        digits[index] = "0"
        index -= 1
    if index < 0:
        return "1" + "".join(digits)
    digits[index] = chr(ord(digits[index]) + 1)
    return "".join(digits)


def bump_version(version: str) -> str | None:
    """Add one to the last run of digits of ``version``, keeping everything else (reference §3.6).

    ``"0.0.9"`` -> ``"0.0.10"``, ``"3.3.0-1"`` -> ``"3.3.0-2"``, ``"1.2a"`` -> ``"1.3a"``.
    Leading zeros keep the run's width: ``"009"`` -> ``"010"``, ``"099"`` -> ``"100"``, and a
    run of nines grows: ``"999"`` -> ``"1000"`` (vmcaster dropped leading zeros instead:
    ``"009"`` -> ``"10"``; both orders as greater). Returns ``None`` if there is no digit.
    """
    runs = list(_ALL_DIGITS.finditer(version))
    if not runs:
        return None
    last = runs[-1]
    return version[: last.start()] + _increment_digits(last.group()) + version[last.end() :]


def next_version(version: str | None, default: str = "0.0.0") -> str:
    """The version vmcaster publishes next: ``bump(version or default)``, or ``"0.0.1"``.

    ``None`` and ``""`` use ``default``; if that cannot be bumped (no digits) the result is
    ``"0.0.1"``.
    """
    return bump_version(version or default) or "0.0.1"
