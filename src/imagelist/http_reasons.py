"""HTTP failures and responses: one line for a failure (the most specific reason in an exception
chain: requests wraps urllib3 wraps OSError), whether it was a timeout or may go better on a
retry, a response's resume validator, and waking a thread blocked reading a response."""

from __future__ import annotations

import contextlib
import socket
import ssl

import requests
import urllib3.exceptions

from .errors import FetchError, FetchTimeoutError

__all__ = [
    "abort_response",
    "describe_error",
    "is_timeout",
    "shorten",
    "strong_validator",
    "transient_fetch_error",
]


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


def transient_fetch_error(exc: FetchError) -> bool:
    """Whether a failed fetch may go better on a retry (not a certificate or redirect refusal)."""
    if isinstance(exc, FetchTimeoutError):
        return True
    text = str(exc)
    return not any(word in text for word in ("certificate", "refusing redirect", "redirects"))


def strong_validator(response: requests.Response) -> str | None:
    """The ``If-Range`` validator of a response: a strong ETag, else Last-Modified."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def abort_response(response: requests.Response) -> None:
    """Wake a thread blocked reading ``response`` (shutdown, unlike close, interrupts recv)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return  # the reading thread sees the end of the stream and closes the response
    with contextlib.suppress(Exception):  # pragma: no cover - urllib3 always has the socket
        response.close()
