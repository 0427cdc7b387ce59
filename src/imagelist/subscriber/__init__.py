"""vmcatcher's service: endorsers, subscriptions, images, and the update pipeline.

``update.py`` is the pipeline of ``vmcatcher_subscribe -U`` (fetch → verify → decide → persist →
emit) and ``decide.py`` its pure decision step; ``subscriptions.py``, ``endorsers.py`` and
``images.py`` are the other commands' operations; ``render.py`` renders the output formats.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .decide import Plan, Policy, decide
    from .subscriptions import SubscribeResult, subscribe
    from .update import RunVerifier, Updater, UpdateResult, exit_code

__all__ = [
    "Plan",
    "Policy",
    "RunVerifier",
    "SubscribeResult",
    "UpdateResult",
    "Updater",
    "decide",
    "exit_code",
    "subscribe",
]

# Imported on first use (PEP 562), so that importing one submodule (or --help) does not
# import them all, nor SQLAlchemy and requests with them (ADR 0023).
_WHERE = {
    "Plan": ".decide",
    "Policy": ".decide",
    "decide": ".decide",
    "SubscribeResult": ".subscriptions",
    "subscribe": ".subscriptions",
    "RunVerifier": ".update",
    "Updater": ".update",
    "UpdateResult": ".update",
    "exit_code": ".update",
}

__getattr__ = lazy_exports(__name__, _WHERE)


class _Package(types.ModuleType):
    """``decide`` is both a submodule and its function, and the function wins: when the import
    system binds the submodule here (on its first import, from wherever), the function is bound
    instead, as the eager ``from .decide import decide`` did before it was made lazy."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "decide" and isinstance(value, types.ModuleType):
            value = value.decide
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
