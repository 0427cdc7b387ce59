"""Tries of a download across runs (``DownLoadTrys``): only an attempt that failed counts.

vmcatcher 0.6 counted a try when it started, and gave an image up after five tries for the same
list version (``msgHash``). Counted that way, a run killed in the middle of a download (a
reboot, an OOM kill, ``systemctl stop``) was a failed try, and five of them silently gave the
image up. Here the partial index entry keeps the number of attempts that *ended with an error*
(HTTP status, size or sha512 mismatch, stall, timeout, disk full, ...) and the last error; an
interrupted attempt counts nothing and resumes from its partial file. An image given up stays
given up until a new list arrives or the administrator resets it (``--reset-tries``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import UsageError

__all__ = [
    "DEFAULT_MAX_TRIES",
    "ERROR_KEY",
    "TRIES_KEY",
    "failed_tries",
    "is_given_up",
    "last_error",
    "record_failure",
    "reset_tries",
]

#: Failed tries after which an image is given up until its list changes (0.6's five).
DEFAULT_MAX_TRIES = 5
TRIES_KEY = "DownLoadTrys"
#: Our own key in a partial entry: the error of the last failed attempt.
ERROR_KEY = "lastError"


def failed_tries(entry: Mapping[str, Any] | None, msg_hash: str | None = None) -> int:
    """Failed attempts an entry records (for the list version ``msg_hash``, when given)."""
    tries = (entry or {}).get(TRIES_KEY)
    if not isinstance(tries, Mapping):
        return 0
    if msg_hash is not None and tries.get("msgHash") != msg_hash:
        return 0
    try:
        return max(0, int(tries.get("count", 0)))
    except (TypeError, ValueError):
        return 0


def last_error(entry: Mapping[str, Any] | None) -> str:
    """The error of the last failed attempt, or ``"unknown"``."""
    value = (entry or {}).get(ERROR_KEY)
    return str(value) if value else "unknown"


def record_failure(entry: dict[str, Any], error: str) -> int:
    """Count one failed attempt in a partial entry; returns the new count."""
    tries = entry.get(TRIES_KEY)
    msg_hash = tries.get("msgHash") if isinstance(tries, Mapping) else None
    count = failed_tries(entry) + 1
    entry[TRIES_KEY] = {"count": count, "msgHash": msg_hash}
    entry[ERROR_KEY] = " ".join(error.split())
    return count


def is_given_up(count: int, max_tries: int) -> bool:
    """Whether ``count`` failed attempts give an image up (``max_tries`` 0: never)."""
    return bool(max_tries) and count >= max_tries


def reset_tries(entries: Mapping[str, dict[str, Any]], identifiers: Sequence[str]) -> list[str]:
    """Forget the failed attempts of ``identifiers`` (all that have some, when empty).

    Returns the ids reset. An id without failed attempts is a UsageError and nothing changes.
    """
    if not identifiers:
        chosen = sorted(key for key, entry in entries.items() if failed_tries(entry))
    else:
        chosen = list(dict.fromkeys(identifiers))
        for identifier in chosen:
            if not failed_tries(entries.get(identifier)):
                raise UsageError(
                    f"image {identifier} has no failed download attempts to reset "
                    "(vmcatcher_cache --status lists them)"
                )
    for identifier in chosen:
        entry = entries[identifier]
        tries = entry.get(TRIES_KEY)
        msg_hash = tries.get("msgHash") if isinstance(tries, Mapping) else None
        entry[TRIES_KEY] = {"count": 0, "msgHash": msg_hash}
        entry.pop(ERROR_KEY, None)
    return chosen
