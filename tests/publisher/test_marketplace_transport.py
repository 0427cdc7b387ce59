"""``protocol = "marketplace"``: vmcaster --upload-imagelist POSTs the signed list to an import URL.

The real vmcaster runs in its own process against an https server on 127.0.0.1 that answers as
the marketplace's import endpoint does (201 with the created version, or a 4xx JSON error); the
end-to-end test (tests/market/test_e2e_market.py) posts to the real marketplace.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from imagelist.smime import read_signed
from tests.httpserver import make_server_certificate, server_tls_context
from tests.pki import TestPki
from tests.security.publisher_support import LIST, Publisher, db_snapshot, make_publisher

TOKEN = "iml_test-token-0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
RECEIPT = {
    "id": 7,
    "appliance": "alma9",
    "version": "1.0",
    "state": "verifying",
    "url": "https://127.0.0.1/api/v1/versions/7",
}


@dataclass
class FakeImport:
    """The requests the endpoint received, and what it answers next."""

    status: int = 201
    answer: dict[str, Any] = field(default_factory=lambda: dict(RECEIPT))
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0
    #: bytes of padding after the JSON answer (a server that does not stop talking)
    flood: int = 0
    #: how many bytes of the answer the client took before it hung up
    sent: int = 0


@pytest.fixture
def endpoint(test_pki: TestPki) -> Iterator[FakeImport]:
    state = FakeImport()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.requests.append((self.path, dict(self.headers), body))
            data = json.dumps(state.answer).encode()
            self.send_response(state.status)
            if state.status in (301, 302, 307, 308):
                self.send_header("Location", "https://127.0.0.1:1/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) + state.flood))
            self.end_headers()
            self.wfile.write(data)
            state.sent = len(data)
            chunk = b" " * 65536
            try:
                while state.sent < len(data) + state.flood:
                    self.wfile.write(chunk)
                    state.sent += len(chunk)
            except OSError:  # the client hung up
                pass

    cert, key = make_server_certificate(test_pki.intermediate)
    context = server_tls_context(cert, key, test_pki.intermediate.cert_pem)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def endorser(tmp_path: Path, test_pki: TestPki, endpoint: FakeImport) -> Publisher:
    publisher = make_publisher(tmp_path, f"sqlite:///{tmp_path / 'vmcaster.db'}", test_pki)
    base = f"https://127.0.0.1:{endpoint.port}"
    publisher.set_list_uri(f"{base}/store/vappliance/alma9/image.list")
    token = publisher.base / "market.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    bundle = publisher.base / "ca.pem"
    bundle.write_bytes(test_pki.root.cert_pem + test_pki.intermediate.cert_pem)
    write_config(publisher, base, token, bundle)
    return publisher


def write_config(publisher: Publisher, base: str, token: Path, bundle: Path | None) -> None:
    lines = [
        "[market]",
        'server = "127.0.0.1"',
        'protocol = "marketplace"',
        f'uriMatch = "{base}/store/vappliance/([a-z0-9-]+)/image\\\\.list"',
        f'uriReplace = "{base}/api/v1/appliances/\\\\1/versions/import"',
        f'token_file = "{token}"',
    ]
    if bundle is not None:
        lines.append(f'ca_file = "{bundle}"')
    (publisher.base / "vmcaster.cfg").write_text("\n".join(lines) + "\n")


def test_upload_posts_the_signed_list_and_reports_the_version(
    endorser: Publisher, endpoint: FakeImport
) -> None:
    result = endorser.run("--upload-imagelist", "--select-imagelist", LIST)
    assert result.rc == 0, result.err
    assert len(endpoint.requests) == 1
    path, headers, body = endpoint.requests[0]
    assert path == "/api/v1/appliances/alma9/versions/import"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert read_signed(body).payload  # the endorser-signed S/MIME list itself
    lines = result.out.splitlines()
    assert len(lines) == 1
    assert "imported by the marketplace as version 1.0 of appliance alma9" in lines[0]
    assert "(id 7, state verifying)" in lines[0]
    assert TOKEN not in result.out + result.err


@pytest.mark.parametrize(
    ("status", "answer", "shown"),
    [
        (
            422,
            {"detail": "signer is not a member of alma9", "code": "import_refused"},
            "HTTP 422: signer is not a member of alma9 (import_refused)",
        ),
        (401, {"detail": "token unknown", "code": "unauthenticated"}, "HTTP 401: token unknown"),
        (307, {}, "HTTP 307"),
        (201, {"not": "a receipt"}, None),
    ],
)
def test_refusal_is_one_line_exit_77_and_nothing_recorded(
    endorser: Publisher,
    endpoint: FakeImport,
    status: int,
    answer: dict[str, Any],
    shown: str | None,
) -> None:
    endpoint.status, endpoint.answer = status, answer
    before = db_snapshot(endorser.database)
    result = endorser.run("--upload-imagelist", "--select-imagelist", LIST)
    if shown is None:  # a 201 without a receipt is accepted but reported as unknown
        assert result.rc == 0
        assert "version ? of appliance ? (id ?, state ?): ?" in result.out
        return
    assert result.rc == 77
    assert len(result.err_lines) == 1
    assert shown in result.err_lines[0]
    assert TOKEN not in result.err
    assert db_snapshot(endorser.database) == before
    assert len(endpoint.requests) == 1  # the redirect was not followed


def test_open_token_file_refused_before_any_request(
    endorser: Publisher, endpoint: FakeImport
) -> None:
    (endorser.base / "market.token").chmod(0o644)
    before = db_snapshot(endorser.database)
    result = endorser.run("--upload-imagelist", "--select-imagelist", LIST)
    assert result.rc == 24
    assert "marketplace token file" in result.err_lines[0]
    assert "too open" in result.err_lines[0]
    assert endpoint.requests == []
    assert db_snapshot(endorser.database) == before


def test_unverified_server_refused(endorser: Publisher, endpoint: FakeImport) -> None:
    base = f"https://127.0.0.1:{endpoint.port}"
    write_config(endorser, base, endorser.base / "market.token", None)  # system CAs only
    result = endorser.run("--upload-imagelist", "--select-imagelist", LIST)
    assert result.rc == 77
    assert "TLS verification failed" in result.err_lines[0]
    assert endpoint.requests == []


def test_plain_http_target_refused(endorser: Publisher, endpoint: FakeImport) -> None:
    endorser.set_list_uri("http://127.0.0.1/store/vappliance/alma9/image.list")
    write_config(endorser, "http://127.0.0.1", endorser.base / "market.token", None)
    result = endorser.run("--upload-imagelist", "--select-imagelist", LIST)
    assert result.rc != 0
    assert "is not https://" in result.err_lines[0]
    assert endpoint.requests == []


def test_token_file_is_required(endorser: Publisher) -> None:
    config = endorser.base / "vmcaster.cfg"
    config.write_text(
        "\n".join(line for line in config.read_text().splitlines() if "token_file" not in line)
    )
    result = endorser.run("--upload-imagelist", "--select-imagelist", LIST)
    assert result.rc != 0
    assert "has no key token_file" in result.err_lines[0]


def test_an_endless_answer_is_not_read_whole(endorser: Publisher, endpoint: FakeImport) -> None:
    """The answer is read up to its bound (64 KiB), never whole into memory."""
    endpoint.flood = 256 * 1024 * 1024
    result = endorser.run("--upload-imagelist", "--select-imagelist", LIST)
    assert result.rc == 77
    assert len(result.err_lines) == 1
    assert "HTTP 201" in result.err_lines[0]
    assert endpoint.sent < 64 * 1024 * 1024, endpoint.sent
