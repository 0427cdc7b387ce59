"""The documented JSON examples (docs/json-output.md) and a shape comparison.

Each example in the doc follows a marker line ``<!-- json-example: NAME -->`` and is the next
fenced ``json`` block. :func:`same_shape` says where a real document differs from an example:
the same keys at every level and the same value types (bool, int, float, str, list, object);
a list's items are each compared with the example's first item; a ``null`` in the example stands
for "null or a string" (the doc says which values may be missing).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "json-output.md"
_EXAMPLE = re.compile(r"<!-- json-example: ([\w.-]+) -->\s*```json\n(.*?)\n```", re.DOTALL)


def examples() -> dict[str, Any]:
    """Every example of the doc by name (a name used twice is an error)."""
    found: dict[str, Any] = {}
    for name, text in _EXAMPLE.findall(DOC.read_text(encoding="utf-8")):
        assert name not in found, f"example {name} twice in {DOC.name}"
        found[name] = json.loads(text)
    return found


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    for kind, name in ((int, "int"), (float, "float"), (str, "str"), (list, "list")):
        if isinstance(value, kind):
            return name
    assert isinstance(value, dict), type(value)
    return "object"


def shape_differences(example: Any, actual: Any, where: str = "$") -> list[str]:
    """Where ``actual`` does not have ``example``'s shape (empty: same shape)."""
    want, got = _kind(example), _kind(actual)
    if want == "null":
        return [] if got in ("null", "str") else [f"{where}: {got} where the doc has null/str"]
    if want != got:
        return [f"{where}: {got} where the doc has {want}"]
    problems: list[str] = []
    if want == "object":
        if set(example) != set(actual):
            missing = sorted(set(example) - set(actual))
            extra = sorted(set(actual) - set(example))
            problems.append(f"{where}: keys missing {missing}, not documented {extra}")
        for key in sorted(set(example) & set(actual)):
            problems += shape_differences(example[key], actual[key], f"{where}.{key}")
    elif want == "list" and example:
        for index, item in enumerate(actual):
            problems += shape_differences(example[0], item, f"{where}[{index}]")
    return problems
