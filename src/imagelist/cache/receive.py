"""Reading an image's HTTP body straight into the download's buffers.

``requests`` hands out the body as new ``bytes`` objects (``response.raw.read1``). For a plain
body (a ``Content-Length``, not chunked, nothing buffered by urllib3) :func:`body_reader` reads
the socket directly into the caller's buffer instead (``readinto1``: one ``recv_into``, whatever
has arrived), counting the bytes down as ``http.client`` would. Anything else (chunked bodies,
another urllib3 or http.client) goes through ``read1`` and a copy, as before. Either way a body
that ends before its length raises urllib3's ``ProtocolError`` and a socket error other than a
timeout becomes one, so the download reports them with the same words (ADR 0027).
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import TYPE_CHECKING

import urllib3.exceptions

if TYPE_CHECKING:
    import requests

__all__ = ["ReadInto", "body_reader"]

#: Reads at most ``len(view)`` bytes of the body into ``view``; returns the count, 0 at its end.
ReadInto = Callable[[memoryview], int]


def body_reader(response: requests.Response) -> ReadInto:
    """The fastest reader of ``response``'s body that reads what the socket has at once."""
    raw = response.raw
    inner = getattr(raw, "_fp", None)
    stream = getattr(inner, "fp", None)
    plain = (
        isinstance(inner, http.client.HTTPResponse)
        and not inner.chunked
        and isinstance(inner.length, int)
        and hasattr(stream, "readinto1")
        and not getattr(raw, "_decoded_buffer", None)  # urllib3 2 holds nothing already read
        and not getattr(raw, "decode_content", True)  # bytes as sent (requests never decodes)
    )
    if not plain:
        return _copying_reader(response)
    assert isinstance(inner, http.client.HTTPResponse)
    readinto1 = stream.readinto1  # type: ignore[union-attr]

    def read_into(view: memoryview) -> int:
        left = inner.length or 0
        if not left or not view:
            return 0
        try:
            count: int = readinto1(view[: min(len(view), left)])
        except TimeoutError:  # socket.timeout: reported as "no data for N s"
            raise
        except OSError as exc:
            raise urllib3.exceptions.ProtocolError(f"Connection broken: {exc!r}", exc) from exc
        if not count:
            raise urllib3.exceptions.ProtocolError(
                "Connection broken: IncompleteRead", http.client.IncompleteRead(b"", left)
            )
        inner.length = left - count
        return count

    return read_into


def _copying_reader(response: requests.Response) -> ReadInto:
    raw = response.raw

    def read_into(view: memoryview) -> int:
        chunk: bytes = raw.read1(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)

    return read_into
