"""Importing lists: reading files, fetching over HTTP(S) or file://, and their errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imagelist.db.publisher import open_database
from imagelist.errors import DocumentError, FetchError, UsageError
from imagelist.publisher import importing
from imagelist.publisher.importing import download_imagelist, fetch_bytes, import_json, parse_json
from imagelist.publisher.store import PublisherStore
from imagelist.smime import sign_detached
from tests.pki import TestPki

LIST = "11111111-1111-4111-8111-111111111111"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[PublisherStore]:
    engine = open_database(sqlite_url)
    yield PublisherStore(engine)
    engine.dispose()


def test_fetch_http_file_and_errors(
    served: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, root = served
    (root / "list").write_bytes(b"content")
    assert fetch_bytes(f"{base}/list") == b"content"
    assert fetch_bytes(f"file://{root / 'list'}") == b"content"
    with pytest.raises(FetchError, match="unsupported URL scheme") as info:
        fetch_bytes("ftp://example.org/list")
    assert info.value.exit_code == 22
    with pytest.raises(FetchError, match="cannot retrieve"):
        fetch_bytes("http://127.0.0.1:1/list")
    monkeypatch.setattr(importing, "MAX_LIST_BYTES", 3)
    with pytest.raises(FetchError, match="more than the limit of 3 bytes") as big:
        fetch_bytes(f"{base}/list")
    assert big.value.exit_code == 22
    with pytest.raises(FetchError, match="more than the limit of 3 bytes"):
        fetch_bytes(f"file://{root / 'list'}")
    with pytest.raises(FetchError, match="cannot"):
        fetch_bytes(f"file://{tmp_path}")


def test_parse_json_errors() -> None:
    with pytest.raises(DocumentError, match="not valid JSON") as info:
        parse_json(b"\xff\xfe", "x")
    assert info.value.exit_code == 20
    assert parse_json(b'\xef\xbb\xbf{"a": 1}', "x") == {"a": 1}


def test_download_needs_a_uri_and_the_right_list(
    store: PublisherStore, served: tuple[str, Path], test_pki: TestPki
) -> None:
    base, root = served
    store.add("imagelist", LIST)
    with pytest.raises(UsageError, match="has no hv:uri"):
        download_imagelist(store, LIST, None)
    store.set_key("imagelist", LIST, "hv:uri", f"{base}/other.json")
    payload = json.dumps({"hv:imagelist": {"dc:identifier": "other"}}).encode()
    (root / "other.json").write_bytes(sign_detached(payload, test_pki.good.cert, test_pki.good.key))
    with pytest.raises(DocumentError, match="holds image list 'other'") as info:
        download_imagelist(store, LIST, None)
    assert info.value.exit_code == 20


def test_import_json_file(store: PublisherStore, tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"hv:imagelist": {"dc:identifier": LIST, "dc:title": "t"}}))
    assert import_json(store, path) == LIST
    assert store.keys("imagelist", LIST) == {"dc:title": "t"}
