"""The integrity check of one image against a real server on 127.0.0.1 that misbehaves:
stalls, lies about Content-Length, serves other bytes, closes early, is dead or redirects
to a file. Nothing is written anywhere: the check only hashes."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path

import pytest

from imagelist.fetch import Fetcher
from imagelist.market.integrity import CheckLimits, check_image
from imagelist.oci.access import RegistryAccess
from imagelist.trust.store import TrustStore
from tests.httpserver import HttpServer, make_server_certificate, server_tls_context
from tests.pki import TestPki

DATA = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha512(DATA).hexdigest()
LIMITS = CheckLimits(connect_timeout=2.0, stall_seconds=1.0, max_size=2**30)


@pytest.fixture
def fetcher() -> Fetcher:
    return Fetcher()


def test_good_image_passes(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/img", DATA)
    seen: list[int] = []
    result = check_image(
        fetcher, server.url("/img"), len(DATA), SHA, limits=LIMITS, progress=seen.append
    )
    assert result.ok, result.message
    assert result.bytes_read == len(DATA)
    assert sum(seen) == len(DATA)


def test_sha512_differs(server: HttpServer, fetcher: Fetcher) -> None:
    other = bytes(reversed(DATA))
    server.put("/img", other)
    result = check_image(fetcher, server.url("/img"), len(DATA), SHA, limits=LIMITS)
    assert result.state == "failed"
    assert "sha512" in result.message
    assert server.url("/img") in result.message


def test_content_length_lie_is_refused_before_reading(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/img", DATA, content_length=len(DATA) + 10)
    result = check_image(fetcher, server.url("/img"), len(DATA), SHA, limits=LIMITS)
    assert result.state == "failed"
    assert f"announces {len(DATA) + 10} bytes" in result.message
    assert result.bytes_read == 0


def test_server_sends_more_than_declared(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/img", DATA + b"extra")  # true Content-Length, but not the declared size
    result = check_image(fetcher, server.url("/img"), len(DATA), SHA, limits=LIMITS)
    assert result.state == "failed"
    assert "announces" in result.message
    server.put("/endless", DATA, endless=True)  # no length at all, never ends
    endless = check_image(fetcher, server.url("/endless"), len(DATA), SHA, limits=LIMITS)
    assert endless.state == "failed"
    assert "more than the declared" in endless.message
    assert endless.bytes_read <= len(DATA) + 256 * 1024


def test_stall_is_detected(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/img", DATA, stall_after=1000, stall_for=30)
    started = time.monotonic()
    result = check_image(fetcher, server.url("/img"), len(DATA), SHA, limits=LIMITS)
    assert time.monotonic() - started < 10
    assert result.state == "failed"
    assert "stalled" in result.message
    assert "after 1000 of" in result.message


def test_connection_dropped(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/img", DATA, drop_after=5000)
    result = check_image(fetcher, server.url("/img"), len(DATA), SHA, limits=LIMITS)
    assert result.state == "failed"
    assert "5000 of" in result.message or "connection" in result.message


def test_dead_server_and_http_errors(server: HttpServer, fetcher: Fetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = check_image(fetcher, f"http://127.0.0.1:{port}/img", len(DATA), SHA, limits=LIMITS)
    assert dead.state == "failed"
    assert "refused" in dead.message
    missing = check_image(fetcher, server.url("/missing"), len(DATA), SHA, limits=LIMITS)
    assert missing.state == "failed"
    assert "HTTP 404" in missing.message


def test_no_file_urls_and_size_cap(server: HttpServer, fetcher: Fetcher, tmp_path: Path) -> None:
    local = tmp_path / "img"
    local.write_bytes(DATA)
    result = check_image(fetcher, local.as_uri(), len(DATA), SHA, limits=LIMITS)
    assert result.state == "failed"
    assert "only http, https and oci" in result.message
    server.put("/to-file", b"", status=302, location=local.as_uri())
    redirected = check_image(fetcher, server.url("/to-file"), len(DATA), SHA, limits=LIMITS)
    assert redirected.state == "failed"
    assert redirected.bytes_read == 0
    capped = check_image(
        fetcher,
        server.url("/img"),
        len(DATA),
        SHA,
        limits=CheckLimits(connect_timeout=2, stall_seconds=1, max_size=1000),
    )
    assert capped.state == "failed"
    assert "limit of 1000 bytes" in capped.message


def test_cancel_stops_a_slow_download(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/img", DATA, rate=64 * 1024)  # 16 s for the whole image
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    result = check_image(
        fetcher,
        server.url("/img"),
        len(DATA),
        SHA,
        limits=CheckLimits(connect_timeout=2, stall_seconds=10, max_size=2**30),
        cancel=cancel,
    )
    assert time.monotonic() - started < 5
    assert result.state == "failed"
    assert "cancelled" in result.message


def test_https_is_verified(test_pki: TestPki) -> None:
    """An https image server is checked against the system CAs and the CA directory given;
    a certificate from anyone else fails the check."""
    cert, key = make_server_certificate(test_pki.intermediate)
    context = server_tls_context(cert, key, test_pki.intermediate.cert_pem)
    with HttpServer(tls=context) as tls:
        tls.put("/img", DATA)
        with Fetcher(TrustStore.load(test_pki.trust_dir)) as trusting:
            assert check_image(trusting, tls.url("/img"), len(DATA), SHA, limits=LIMITS).ok
        with Fetcher() as system_only:
            refused = check_image(system_only, tls.url("/img"), len(DATA), SHA, limits=LIMITS)
        assert refused.state == "failed"
        assert "certificate verify failed" in refused.message
        assert refused.bytes_read == 0


@pytest.mark.parametrize("uri", ["http://[::1/img", "https://[zz::1]/img", "oci://[::1/r@x"])
def test_a_malformed_url_is_a_failed_check_not_an_exception(fetcher: Fetcher, uri: str) -> None:
    result = check_image(fetcher, uri, len(DATA), SHA, limits=LIMITS)
    assert result.state == "failed"
    assert result.bytes_read == 0
    assert "\n" not in result.message


def test_an_unusable_registry_setting_is_a_failed_check(fetcher: Fetcher, tmp_path: Path) -> None:
    """A market whose OCI CA bundle is missing fails the check of an oci:// image with the
    reason (it raised out of the check and left the job running until the lease ran out)."""
    uri = "oci://registry.example/egi/ubuntu@sha256:" + "0" * 64
    access = RegistryAccess(ca_bundle=tmp_path / "missing.pem")
    result = check_image(fetcher, uri, len(DATA), SHA, limits=LIMITS, access=access)
    assert result.state == "failed"
    assert result.bytes_read == 0
    assert "missing.pem" in result.message
    assert "\n" not in result.message
