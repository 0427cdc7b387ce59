"""One line for an HTTP failure: the most specific reason in an exception chain, and whether it
was a timeout (requests wraps urllib3 wraps OSError)."""

from __future__ import annotations

import ssl

import requests
import urllib3.exceptions

__all__ = ["describe_error", "is_timeout", "shorten"]


def shorten(text: str, limit: int = 200) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_error(exc: BaseException) -> str:
    """The most specific message in an exception chain (requests wraps urllib3 wraps OSError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    best = str(exc)
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {current.verify_message}"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            best = str(reason)
            current = reason
            continue
        args = getattr(current, "args", ())
        nested = next((arg for arg in args if isinstance(arg, BaseException)), None)
        current = nested or current.__cause__ or current.__context__
    return shorten(best)


def is_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return False
        # urllib3 derives NewConnectionError (refused, unreachable, no route) from its
        # ConnectTimeoutError: only the socket error beneath it says whether it timed out.
        if not isinstance(current, urllib3.exceptions.NewConnectionError) and isinstance(
            current,
            requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError,
        ):
            return True
        args = getattr(current, "args", ())
        nested = next((arg for arg in args if isinstance(arg, BaseException)), None)
        reason = getattr(current, "reason", None)
        current = (
            nested
            or (reason if isinstance(reason, BaseException) else None)
            or current.__cause__
            or current.__context__
        )
    return False
