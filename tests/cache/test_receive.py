"""Reading a body into the download's buffers (imagelist.cache.receive), against the test server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import urllib3.exceptions

from imagelist.cache.receive import body_reader
from imagelist.fetch import Fetcher
from tests.httpserver import HttpServer, Resource

BODY = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture
def server() -> Iterator[HttpServer]:
    server = HttpServer().start()
    yield server
    server.stop()


def _read_all(reader: object, piece: int) -> bytes:
    buffer = memoryview(bytearray(piece))
    out = bytearray()
    while count := reader(buffer):  # type: ignore[operator]
        out += buffer[:count]
    return bytes(out)


@pytest.mark.parametrize("piece", [1, 4096, 1024 * 1024])
def test_a_plain_body_is_read_whole_into_the_buffers(server: HttpServer, piece: int) -> None:
    server.put("/img", Resource(body=BODY[:70_000] if piece == 1 else BODY))
    with Fetcher() as fetcher:
        response = fetcher.open_stream(server.url("/img"))
        try:
            reader = body_reader(response)
            assert reader.__qualname__ == "body_reader.<locals>.read_into"  # the socket path
            expected = BODY[:70_000] if piece == 1 else BODY
            assert _read_all(reader, piece) == expected
            assert reader(memoryview(bytearray(8))) == 0  # and nothing after its end
        finally:
            response.close()


def test_a_body_without_length_is_read_through_requests(server: HttpServer) -> None:
    server.put("/endless", Resource(body=b"abc" * 1000, endless=True))
    with Fetcher() as fetcher:
        response = fetcher.open_stream(server.url("/endless"))
        try:
            reader = body_reader(response)
            assert reader.__qualname__ == "_copying_reader.<locals>.read_into"
            buffer = memoryview(bytearray(4096))
            count = reader(buffer)
            assert 0 < count <= 4096
            assert bytes(buffer[:count]) == (b"abc" * 2000)[:count]
        finally:
            response.close()


def test_a_body_cut_short_is_a_protocol_error(server: HttpServer) -> None:
    server.put("/cut", Resource(body=BODY, drop_after=100_000))
    with Fetcher() as fetcher:
        response = fetcher.open_stream(server.url("/cut"))
        try:
            reader = body_reader(response)
            with pytest.raises(urllib3.exceptions.ProtocolError):
                _read_all(reader, 65536)
        finally:
            response.close()
