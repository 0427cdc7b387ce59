"""imagelist.fetch against a real HTTP(S) server on 127.0.0.1 (tests/httpserver.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from imagelist.errors import FetchError, FetchTimeoutError, HttpStatusError, ListTooLargeError
from imagelist.fetch import (
    DEFAULT_MAX_BYTES,
    Fetcher,
    FetchLimits,
    redact_url,
    same_origin,
    scheme_rank,
    split_credentials,
)
from imagelist.https import system_ca_bundle
from imagelist.trust import TrustStore
from tests.httpserver import HttpServer, Resource, make_server_certificate, server_tls_context
from tests.pki import TestPki

BODY = b"signed list bytes\n" * 100
FAST = FetchLimits(connect_timeout=2, read_timeout=0.5, max_time=5, max_bytes=64 * 1024)


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(limits=FAST) as active:
        yield active


def test_plain_get_keeps_port_and_query(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/store/image.list?vo=ops&x=1", BODY)
    url = server.url("/store/image.list?vo=ops&x=1")
    result = fetcher.fetch(url)
    assert result.data == BODY
    assert not result.not_modified
    assert result.url == url
    (record,) = server.requests_for("/store/image.list")
    assert record.path == "/store/image.list?vo=ops&x=1"
    assert record.headers["User-Agent"].startswith("vmcatcher/")


def test_etag_conditional_get_gives_304_and_reuses_the_connection(
    server: HttpServer, fetcher: Fetcher
) -> None:
    server.put("/l", BODY, etag="auto")
    first = fetcher.fetch(server.url("/l"))
    assert first.etag is not None
    second = fetcher.fetch(server.url("/l"), etag=first.etag)
    assert second.not_modified
    assert second.data is None
    assert second.status == 304
    assert second.etag == first.etag
    assert server.statuses("/l") == [200, 304]
    ports = {record.client_port for record in server.requests_for("/l")}
    assert len(ports) == 1, "keep-alive: both requests on one connection"
    third = fetcher.fetch(server.url("/l"), etag='"other"')
    assert third.data == BODY


def test_last_modified_conditional_get(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/l", BODY, last_modified="auto")
    first = fetcher.fetch(server.url("/l"))
    assert first.last_modified is not None
    second = fetcher.fetch(server.url("/l"), last_modified=first.last_modified)
    assert second.not_modified
    assert second.last_modified == first.last_modified


def test_unexpected_304_without_validators_is_an_error(
    server: HttpServer, fetcher: Fetcher
) -> None:
    server.put("/l", b"", status=304)
    with pytest.raises(HttpStatusError) as caught:
        fetcher.fetch(server.url("/l"))
    assert caught.value.status == 304


def test_http_error_status_is_exit_10_with_the_status_in_the_message(
    server: HttpServer, fetcher: Fetcher
) -> None:
    with pytest.raises(HttpStatusError) as caught:
        fetcher.fetch(server.url("/missing"))
    assert caught.value.status == 404
    assert caught.value.exit_code == 10
    assert "HTTP 404" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_redirect_same_scheme_followed_relative_location(
    server: HttpServer, fetcher: Fetcher
) -> None:
    server.put("/old", status=301, location="/new?q=1")
    server.put("/new?q=1", BODY)
    result = fetcher.fetch(server.url("/old"))
    assert result.data == BODY
    assert result.url == server.url("/new?q=1")


def test_too_many_redirects(server: HttpServer) -> None:
    server.put("/a", status=302, location="/b")
    server.put("/b", status=302, location="/a")
    with Fetcher(limits=FetchLimits(max_redirects=3)) as fetcher, pytest.raises(FetchError) as e:
        fetcher.fetch(server.url("/a"))
    assert "more than 3 redirects" in str(e.value)
    assert server.hits("/a") + server.hits("/b") == 4


def test_redirect_without_location(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/a", status=302)
    with pytest.raises(FetchError, match="without a Location"):
        fetcher.fetch(server.url("/a"))


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/x", "file:///etc/passwd"])
def test_redirect_to_other_schemes_refused(
    server: HttpServer, fetcher: Fetcher, target: str
) -> None:
    server.put("/a", status=302, location=target)
    with pytest.raises(FetchError, match="refusing redirect"):
        fetcher.fetch(server.url("/a"))


@pytest.fixture(scope="module")
def tls_server(test_pki: TestPki) -> Iterator[HttpServer]:
    cert, key = make_server_certificate(test_pki.intermediate)
    context = server_tls_context(cert, key, test_pki.intermediate.cert_pem)
    with HttpServer(tls=context) as running:
        yield running


@pytest.fixture(scope="module")
def store(test_pki: TestPki) -> TrustStore:
    return TrustStore.load(test_pki.trust_dir)


def test_https_verified_against_the_trust_directory(
    tls_server: HttpServer, store: TrustStore
) -> None:
    tls_server.put("/l", BODY)
    with Fetcher(store, limits=FAST) as fetcher:
        assert fetcher.fetch(tls_server.url("/l")).data == BODY
    with Fetcher(store, limits=FAST, igtf_https=False) as fetcher, pytest.raises(FetchError):
        fetcher.fetch(tls_server.url("/l"))  # the IGTF part turned off: system CAs only


def test_https_untrusted_server_refused(tls_server: HttpServer) -> None:
    tls_server.put("/l", BODY)
    with Fetcher(limits=FAST) as fetcher, pytest.raises(FetchError) as caught:
        fetcher.fetch(tls_server.url("/l"))  # system CAs only: the test CA is unknown
    assert "certificate verify failed" in str(caught.value)
    assert caught.value.exit_code == 10


def test_https_name_mismatch_refused(test_pki: TestPki, store: TrustStore) -> None:
    cert, key = make_server_certificate(test_pki.intermediate, names=("other.example",))
    context = server_tls_context(cert, key, test_pki.intermediate.cert_pem)
    with HttpServer(tls=context) as running, Fetcher(store, limits=FAST) as fetcher:
        running.put("/l", BODY)
        with pytest.raises(FetchError, match="certificate verify failed"):
            fetcher.fetch(running.url("/l"))


def test_https_to_http_redirect_refused_http_to_https_followed(
    tls_server: HttpServer, server: HttpServer, store: TrustStore
) -> None:
    tls_server.put("/down", status=302, location=server.url("/plain"))
    server.put("/plain", BODY)
    server.put("/up", status=301, location=tls_server.url("/secure"))
    tls_server.put("/secure", BODY)
    with Fetcher(store, limits=FAST) as fetcher:
        with pytest.raises(FetchError, match="refusing redirect"):
            fetcher.fetch(tls_server.url("/down"))
        assert fetcher.fetch(server.url("/up")).url == tls_server.url("/secure")
    assert server.hits("/plain") == 0


def test_basic_auth_from_url_and_arguments(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/private", BODY, auth=("token", "x-oauth-basic"))
    with pytest.raises(HttpStatusError) as caught:
        fetcher.fetch(server.url("/private"))
    assert caught.value.status == 401
    with_url = server.url("/private").replace("://", "://token:x-oauth-basic@")
    assert fetcher.fetch(with_url).data == BODY
    result = fetcher.fetch(server.url("/private"), username="token", password="x-oauth-basic")
    assert result.data == BODY
    assert "x-oauth-basic" not in result.url


def test_credentials_not_sent_to_another_host(server: HttpServer, fetcher: Fetcher) -> None:
    with HttpServer(host="127.0.0.2") as other:
        other.put("/l", BODY)
        server.put("/l", status=302, location=other.url("/l"))
        fetcher.fetch(server.url("/l"), username="u", password="p")
        (record,) = other.requests_for("/l")
        assert "Authorization" not in record.headers
    assert "Authorization" in server.requests_for("/l")[0].headers


def test_credentials_only_to_the_exact_origin_for_lists_and_images(
    server: HttpServer, fetcher: Fetcher
) -> None:
    """Same host, another port: no credentials, for fetch (lists) and open_stream (images)."""
    with HttpServer() as other:
        other.put("/l", BODY)
        server.put("/l", status=302, location=other.url("/l"))
        server.put("/same", status=302, location=server.url("/l2"))
        server.put("/l2", BODY)
        fetcher.fetch(server.url("/l"), username="u", password="p")
        response = fetcher.open_stream(server.url("/l").replace("://", "://u:p@"))
        response.close()
        assert [("Authorization" in r.headers) for r in other.requests_for("/l")] == [False] * 2
        fetcher.fetch(server.url("/same").replace("://", "://u:p@"))
        assert "Authorization" in server.requests_for("/l2")[0].headers


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("http://h/a", "http://H:80/b", True),
        ("https://h/a", "https://h:443/b?q", True),
        ("http://h/a", "https://h/a", False),
        ("http://h:8080/a", "http://h:8081/a", False),
        ("http://h/a", "http://h:99999/a", False),
    ],
)
def test_same_origin(first: str, second: str, same: bool) -> None:
    assert same_origin(first, second) is same


def test_declared_length_over_the_cap(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/big", bytes(FAST.max_bytes + 1))
    with pytest.raises(ListTooLargeError, match="more than the limit"):
        fetcher.fetch(server.url("/big"))


def test_endless_data_stops_at_the_cap(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/endless", endless=True)
    started = time.monotonic()
    with pytest.raises(ListTooLargeError) as caught:
        fetcher.fetch(server.url("/endless"))
    assert time.monotonic() - started < 5
    assert caught.value.exit_code == 10


def test_default_cap_is_16_mib() -> None:
    assert FetchLimits().max_bytes == DEFAULT_MAX_BYTES == 16 * 1024 * 1024


def test_stall_mid_body_times_out(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/stall", BODY, stall_after=100)
    started = time.monotonic()
    with pytest.raises(FetchTimeoutError, match="stalled after"):
        fetcher.fetch(server.url("/stall"))
    assert time.monotonic() - started < 3


def test_slow_headers_time_out(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/slow", BODY, delay=5)
    with pytest.raises(FetchTimeoutError, match="timed out"):
        fetcher.fetch(server.url("/slow"))


def test_trickle_hits_the_total_time_limit(server: HttpServer) -> None:
    limits = FetchLimits(read_timeout=2, max_time=0.6)
    server.put("/trickle", bytes(8000), rate=4000)
    started = time.monotonic()
    with Fetcher(limits=limits) as fetcher, pytest.raises(FetchTimeoutError, match="longer"):
        fetcher.fetch(server.url("/trickle"))
    assert time.monotonic() - started < 2


def test_redirect_loop_stops_at_the_total_time_limit(server: HttpServer) -> None:
    server.put("/a", status=302, location="/a", delay=0.2)
    limits = FetchLimits(max_time=0.3, max_redirects=50)
    with Fetcher(limits=limits) as fetcher, pytest.raises(FetchTimeoutError):
        fetcher.fetch(server.url("/a"))


def test_connection_dropped_mid_body(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/drop", BODY, drop_after=200)
    with pytest.raises(FetchError, match="connection broken after"):
        fetcher.fetch(server.url("/drop"))


def test_content_length_longer_than_the_body(server: HttpServer, fetcher: Fetcher) -> None:
    server.put("/lie", BODY, content_length=len(BODY) + 50)
    with pytest.raises(FetchError, match="connection broken"):
        fetcher.fetch(server.url("/lie"))


def test_content_length_shorter_than_the_body_gives_what_it_claims(
    server: HttpServer, fetcher: Fetcher
) -> None:
    server.put("/short", BODY, content_length=10)
    assert fetcher.fetch(server.url("/short")).data == BODY[:10]


def test_connection_refused(fetcher: Fetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="connection refused"):
        fetcher.fetch(f"http://127.0.0.1:{port}/l")


def test_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        accepted: list[socket.socket] = []
        thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
        thread.start()
        with Fetcher(limits=FAST) as fetcher, pytest.raises(FetchTimeoutError):
            fetcher.fetch(f"http://127.0.0.1:{port}/l")
        thread.join()
        for sock in accepted:
            sock.close()


def test_proxy_from_the_environment(
    server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.put("/image.list", BODY)
    monkeypatch.setenv("http_proxy", server.base_url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    result = fetcher.fetch("http://lists.example.invalid/image.list")
    assert result.data == BODY
    (record,) = server.requests_for("/image.list")
    assert record.via_proxy
    assert record.target == "http://lists.example.invalid/image.list"


def test_no_proxy_is_honoured(
    server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.put("/l", BODY)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # would fail if used
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert fetcher.fetch(server.url("/l")).data == BODY
    assert not server.requests_for("/l")[0].via_proxy


class _ConnectProxy:
    """A real CONNECT proxy on 127.0.0.1 (relays bytes both ways); counts the tunnels opened."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tunnels: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            request += chunk
        target = request.split()[1].decode()
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def close(self) -> None:
        self.listener.close()


def test_https_through_a_connect_proxy_with_the_igtf_step(
    tls_server: HttpServer, store: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second (IGTF) handshake goes through the proxy tunnel too."""
    tls_server.put("/proxied", BODY)
    proxy = _ConnectProxy()
    try:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        with Fetcher(store, limits=FAST) as fetcher:
            assert fetcher.fetch(tls_server.url("/proxied")).data == BODY
    finally:
        proxy.close()
    target = f"127.0.0.1:{tls_server.port}"
    assert proxy.tunnels == [target, target], "system step, then IGTF step, both tunnelled"


def test_file_urls(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "dir with space" / "image.list"
    path.parent.mkdir()
    path.write_bytes(BODY)
    result = fetcher.fetch(path.as_uri())
    assert result.data == BODY
    assert result.etag is None
    assert fetcher.fetch("file://localhost" + path.as_uri()[7:]).data == BODY
    with pytest.raises(FetchError, match="No such file"):
        fetcher.fetch((tmp_path / "missing").as_uri())
    with pytest.raises(FetchError, match="directory"):
        fetcher.fetch(tmp_path.as_uri())
    with pytest.raises(FetchError, match="not a regular file"):
        fetcher.fetch("file:///dev/zero")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FetchError, match="not a regular file"):
        fetcher.fetch(fifo.as_uri())
    with pytest.raises(FetchError, match="local path"):
        fetcher.fetch("file://remote.example/etc/passwd")
    big = tmp_path / "big.list"
    big.write_bytes(bytes(FAST.max_bytes + 1))
    with pytest.raises(ListTooLargeError):
        fetcher.fetch(big.as_uri())


def test_file_larger_than_its_stat_size_is_capped_while_read() -> None:
    # /proc files report size 0 but have content: the cap holds while reading too.
    with Fetcher(limits=FetchLimits(max_bytes=5)) as fetcher, pytest.raises(ListTooLargeError):
        fetcher.fetch("file:///proc/self/status")


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/x", "gopher://x/", "http://[::1/x", "http://127.0.0.1:99999/x"],
)
def test_bad_urls_are_one_line_fetch_errors(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert "\n" not in str(caught.value)


def test_split_credentials_and_redaction() -> None:
    assert split_credentials("https://u%40x:p%3Aw@host:8443/p?q=1") == (
        "https://host:8443/p?q=1",
        "u@x",
        "p:w",
    )
    assert split_credentials("https://token@host/p") == ("https://host/p", "token", None)
    assert split_credentials("http://host/p") == ("http://host/p", None, None)
    assert redact_url("http://a:b@h/x") == "http://h/x"
    assert [scheme_rank(u) for u in ("https://h", "HTTP://h", "file:///x")] == [2, 1, 0]


def test_system_ca_bundle_is_found() -> None:
    system = system_ca_bundle()
    assert system is not None
    assert system.is_file()


@pytest.mark.parametrize(
    "options", [{"connect_timeout": 0}, {"max_time": -1}, {"max_bytes": 0}, {"max_redirects": -1}]
)
def test_limits_are_validated(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        FetchLimits(**options)  # type: ignore[arg-type]


def test_resource_helpers_serve_directories_and_ranges(tmp_path: Path, server: HttpServer) -> None:
    """The test server itself: directory mounts and byte ranges (used by the cache tests)."""
    (tmp_path / "a.img").write_bytes(b"0123456789")
    server.mount("/files", tmp_path, etag="auto")
    whole = requests.get(server.url("/files/a.img"), timeout=5)
    assert whole.content == b"0123456789"
    part = requests.get(server.url("/files/a.img"), headers={"Range": "bytes=4-"}, timeout=5)
    assert part.status_code == 206
    assert part.content == b"456789"
    stale = requests.get(
        server.url("/files/a.img"),
        headers={"Range": "bytes=4-", "If-Range": '"stale"'},
        timeout=5,
    )
    assert stale.status_code == 200
    suffix = requests.get(server.url("/files/a.img"), headers={"Range": "bytes=-3"}, timeout=5)
    assert suffix.content == b"789"
    bad = requests.get(server.url("/files/a.img"), headers={"Range": "bytes=20-"}, timeout=5)
    assert bad.status_code == 416
    assert requests.get(server.url("/files/../etc/passwd"), timeout=5).status_code == 404
    assert server.bytes_sent("/files/a.img") == 10 + 6 + 10 + 3
    server.put("/r", Resource(body=b"x"))
    assert requests.head(server.url("/r"), timeout=5).headers["Content-Length"] == "1"


def test_connection_refused_is_not_called_a_timeout() -> None:
    """Issue 10 §5: "timed out (connection refused)" named the wrong cause."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Fetcher(None) as fetcher, pytest.raises(FetchError) as excinfo:
        fetcher.fetch(f"http://127.0.0.1:{port}/image.list")
    assert not isinstance(excinfo.value, FetchTimeoutError)
    assert (
        str(excinfo.value)
        == f"cannot retrieve http://127.0.0.1:{port}/image.list: connection refused"
    )
    assert "timed out" not in str(excinfo.value)
