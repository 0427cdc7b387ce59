"""vmcatcher's service: endorsers, subscriptions, images, and the update pipeline.

``update.py`` is the pipeline of ``vmcatcher_subscribe -U`` (fetch → verify → decide → persist →
emit) and ``decide.py`` its pure decision step; ``subscriptions.py``, ``endorsers.py`` and
``images.py`` are the other commands' operations; ``render.py`` renders the output formats.
"""

from __future__ import annotations

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
