"""The download engine against the real test server: every answer a server can give."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelist.cache import Downloader, DownloadJob, DownloadLimits, StreamHasher
from imagelist.cache.download import free_space, hash_file
from imagelist.errors import DiskSpaceError, DownloadError, ImageVerificationError
from imagelist.fetch import Fetcher
from imagelist.trust import TrustStore
from tests.httpserver import HttpServer, Resource, make_server_certificate, server_tls_context
from tests.pki import TestPki

BODY = bytes(range(256)) * 1024  # 256 KiB
SHA = hashlib.sha512(BODY).hexdigest()
FAST = DownloadLimits(connect_timeout=2, read_timeout=1, speed_time=1, retries=2, backoff=0.01)


@pytest.fixture
def downloader() -> Iterator[Downloader]:
    with Fetcher() as fetcher:
        engine = Downloader(fetcher, FAST)
        yield engine
        engine.close()


def _job(tmp_path: Path, url: str, **fields: object) -> DownloadJob:
    values: dict[str, object] = {
        "identifier": "img",
        "uri": url,
        "size": len(BODY),
        "sha512": SHA,
        "path": tmp_path / "img",
    }
    values.update(fields)
    return DownloadJob(**values)  # type: ignore[arg-type]


def test_plain_download(server: HttpServer, downloader: Downloader, tmp_path: Path) -> None:
    server.put("/img", BODY)
    result = downloader.download(_job(tmp_path, server.url("/img")))
    assert result.ok, result.error
    assert (tmp_path / "img").read_bytes() == BODY
    assert result.received == len(BODY)
    assert result.attempts == 1


def test_server_without_ranges_sends_it_all_again(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    server.put("/img", BODY, ranges=False)
    (tmp_path / "img").write_bytes(BODY[:1000])
    result = downloader.download(_job(tmp_path, server.url("/img")))
    assert result.ok
    assert result.resumed_from == 1000
    assert server.requests_for("/img")[0].status == 200
    assert (tmp_path / "img").read_bytes() == BODY


def test_a_changed_file_comes_back_whole_through_if_range(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    server.put("/img", BODY, etag='"v2"')
    (tmp_path / "img").write_bytes(b"old" * 100)
    result = downloader.download(_job(tmp_path, server.url("/img"), validator='"v1"'))
    assert result.ok
    record = server.requests_for("/img")[0]
    assert record.headers["If-Range"] == '"v1"'
    assert record.status == 200


def test_416_restarts_from_the_beginning(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    server.put("/img", BODY[:50])  # shorter than our partial file: 416, then all of it
    (tmp_path / "img").write_bytes(BODY[:100])
    result = downloader.download(_job(tmp_path, server.url("/img")))
    assert isinstance(result.error, ImageVerificationError)
    assert "announces 50 bytes" in str(result.error)
    assert server.statuses("/img") == [416, 200]


def test_partial_longer_than_the_image_is_discarded(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    server.put("/img", BODY)
    (tmp_path / "img").write_bytes(BODY + b"extra")
    assert downloader.download(_job(tmp_path, server.url("/img"))).ok
    assert server.requests_for("/img")[0].headers.get("Range") is None


def test_complete_partial_needs_no_transfer(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    (tmp_path / "img").write_bytes(BODY)
    result = downloader.download(_job(tmp_path, server.url("/img")))
    assert result.ok
    assert server.hits("/img") == 0


def test_another_total_in_content_range_fails(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    server.put("/img", BODY + b"!")
    (tmp_path / "img").write_bytes(BODY[:10])
    result = downloader.download(_job(tmp_path, server.url("/img")))
    assert isinstance(result.error, ImageVerificationError)
    assert "is 262145 bytes, the list says 262144" in str(result.error)
    assert not (tmp_path / "img").exists()


def test_a_range_we_did_not_ask_for_restarts(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    whole = f"bytes 0-{len(BODY) - 1}/{len(BODY)}"
    server.put("/img", Resource(body=BODY, headers={"Content-Range": whole}))
    (tmp_path / "img").write_bytes(BODY[:10])
    result = downloader.download(_job(tmp_path, server.url("/img")))
    assert result.ok
    assert [r.headers.get("Range") for r in server.requests_for("/img")] == ["bytes=10-", None]


def test_server_errors_are_retried_and_client_errors_not(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    server.put("/busy", Resource(body=b"busy", status=503))
    result = downloader.download(_job(tmp_path, server.url("/busy")))
    assert isinstance(result.error, DownloadError)
    assert "HTTP 503" in str(result.error)
    assert result.attempts == 3
    server.put("/gone", Resource(body=b"gone", status=404))
    result = downloader.download(_job(tmp_path, server.url("/gone")))
    assert result.attempts == 1
    assert "HTTP 404" in str(result.error)


def test_a_trickle_is_cut_as_a_stall(server: HttpServer, tmp_path: Path) -> None:
    server.put("/img", BODY, rate=2000)
    limits = DownloadLimits(read_timeout=10, speed_limit=50_000, speed_time=0.5, retries=0)
    with Fetcher() as fetcher:
        engine = Downloader(fetcher, limits)
        started = time.monotonic()
        result = engine.download(_job(tmp_path, server.url("/img")))
        engine.close()
    assert time.monotonic() - started < 5
    assert "stalled: less than 50000 bytes/s for 0.5 s" in str(result.error)
    assert (tmp_path / "img").exists(), "the partial file is kept for the next run"


def test_silence_is_a_read_timeout_then_a_resume(
    server: HttpServer, downloader: Downloader, tmp_path: Path
) -> None:
    server.put("/img", BODY, stall_after=100_000, faults=1, chunk_size=4096)
    result = downloader.download(_job(tmp_path, server.url("/img")))
    assert result.ok, result.error
    second = server.requests_for("/img")[1]
    assert second.headers["Range"].startswith("bytes=")
    assert second.status == 206


def test_https_is_verified_with_the_trust_directory(test_pki: TestPki, tmp_path: Path) -> None:
    cert, key = make_server_certificate(test_pki.intermediate)
    from cryptography.hazmat.primitives.serialization import Encoding

    chain = test_pki.intermediate.cert.public_bytes(Encoding.PEM)
    with HttpServer(tls=server_tls_context(cert, key, chain)) as server:
        server.put("/img", BODY)
        store = TrustStore.load(test_pki.trust_dir)
        with Fetcher(store) as fetcher:
            assert Downloader(fetcher, FAST).download(_job(tmp_path, server.url("/img"))).ok
        with Fetcher() as fetcher:
            result = Downloader(fetcher, FAST).download(
                _job(tmp_path / "x", server.url("/img"), path=tmp_path / "other")
            )
        assert "certificate verify failed" in str(result.error)
        assert result.attempts == 1, "a certificate failure is not retried"


def test_cancel_stops_a_download(server: HttpServer, tmp_path: Path) -> None:
    server.put("/img", BODY, rate=20_000)
    cancel = threading.Event()
    with Fetcher() as fetcher:
        engine = Downloader(fetcher, FAST, cancel=cancel)
        threading.Timer(0.3, cancel.set).start()
        result = engine.download(_job(tmp_path, server.url("/img")))
        engine.close()
    assert "interrupted" in str(result.error)


def test_file_urls(tmp_path: Path, downloader: Downloader) -> None:
    source = tmp_path / "source"
    source.write_bytes(BODY)
    refused = downloader.download(_job(tmp_path, source.as_uri(), local_files=False))
    assert "refusing a file: image URI" in str(refused.error)
    assert downloader.download(_job(tmp_path, source.as_uri(), local_files=True)).ok
    result = downloader.download(
        _job(tmp_path, "file://otherhost/x", local_files=True, path=tmp_path / "b")
    )
    assert "must name a local path" in str(result.error)
    result = downloader.download(
        _job(tmp_path, (tmp_path).as_uri(), local_files=True, path=tmp_path / "c")
    )
    assert "not a regular file" in str(result.error)
    result = downloader.download(
        _job(tmp_path, "file:///nonexistent", local_files=True, path=tmp_path / "d")
    )
    assert "No such file" in str(result.error)
    small = tmp_path / "small"
    small.write_bytes(b"abc")
    result = downloader.download(
        _job(tmp_path, small.as_uri(), local_files=True, path=tmp_path / "e")
    )
    assert "is 3 bytes, the list says 262144" in str(result.error)


def test_disk_full_keeps_the_partial(
    server: HttpServer, downloader: Downloader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    server.put("/img", BODY)
    real_write = os.write
    written = {"n": 0}

    def write(fd: int, data: object) -> int:
        if written["n"] >= 100_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        count = real_write(fd, bytes(data)[:4096])  # type: ignore[call-overload]
        written["n"] += count
        return count

    monkeypatch.setattr(os, "write", write)
    result = downloader.download(_job(tmp_path, server.url("/img")))
    monkeypatch.undo()
    assert isinstance(result.error, DiskSpaceError)
    assert "No space left on device (partial file kept)" in str(result.error)
    assert (tmp_path / "img").stat().st_size == written["n"] >= 100_000
    assert downloader.download(_job(tmp_path, server.url("/img"))).ok


def test_helpers(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(BODY)
    assert hash_file(tmp_path / "f").hexdigest() == SHA
    assert StreamHasher().hexdigest() == hashlib.sha512(b"").hexdigest()
    assert free_space(tmp_path) > 0
    limits = DownloadLimits(backoff=1, max_backoff=4)
    assert 0.75 <= limits.delay(1) <= 1
    assert 3 <= limits.delay(5) <= 4
    for bad in ({"connect_timeout": 0}, {"retries": -1}, {"speed_limit": -1}):
        with pytest.raises(ValueError, match="must"):
            DownloadLimits(**bad)  # type: ignore[arg-type]
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadError, match="interrupted"):
        hash_file(tmp_path / "f", cancel=cancel)


def test_open_stream_follows_redirects_and_refuses_bad_urls(server: HttpServer) -> None:
    from imagelist.errors import FetchError
    from imagelist.fetch import FetchLimits

    server.put("/img", BODY)
    server.put("/moved", Resource(status=302, location="/img"))
    server.put("/loop", Resource(status=302, location="/loop"))
    with Fetcher(limits=FetchLimits(max_redirects=2)) as fetcher:
        response = fetcher.open_stream(server.url("/moved"))
        assert response.status_code == 200
        assert response.content == BODY
        with pytest.raises(FetchError, match="more than 2 redirects"):
            fetcher.open_stream(server.url("/loop"))
        with pytest.raises(FetchError, match="unsupported URL scheme 'ftp'"):
            fetcher.open_stream("ftp://host/x")
        with pytest.raises(FetchError, match="cannot retrieve"):
            fetcher.open_stream("http://host:99999/x")
