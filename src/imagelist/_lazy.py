"""Names a package exports but imports only on first use (PEP 562 module ``__getattr__``).

A package's ``__init__`` lists where each name lives and assigns the result of
:func:`lazy_exports` to its ``__getattr__``: importing one submodule (or running ``--help``)
then does not import them all, nor SQLAlchemy and requests with them (ADR 0023). Pure: only
:mod:`importlib`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each name to the (relative)
    submodule that defines it; the first use imports that submodule and keeps the value in the
    package, so later uses do not come back here."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(where[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
