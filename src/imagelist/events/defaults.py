"""The event settings a command line offers as defaults, apart from the code that uses them
(:mod:`.runner`, :mod:`.outbox`): ``--help`` imports only this (ADR 0029)."""

from __future__ import annotations

__all__ = ["DEFAULT_HANDLER_TIMEOUT", "DEFAULT_MAX_ATTEMPTS"]

#: Default handler timeout in seconds (30 minutes: long enough to upload an image to a cloud).
DEFAULT_HANDLER_TIMEOUT = 1800.0
#: Failures of one event for one handler (one per run once it is in the outbox) before it
#: becomes a dead letter.
DEFAULT_MAX_ATTEMPTS = 5
