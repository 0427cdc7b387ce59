"""Failure: the cloud accepts connections and never answers (issue 17 §4).

Before, ``--event-handler glance`` against such a cloud blocked the run forever:
``--handler-timeout`` reached only shell handlers, and neither openstacksdk nor pyone had a
timeout. Now an in-process handler runs in a worker thread and is abandoned at the same timeout,
the event fails as timed out (exit 41, sent again at the next run), and the cloud clients have
connect/read timeouts of their own.

The cloud is a real TCP server on 127.0.0.1 that accepts every connection and never answers.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from keystoneauth1 import exceptions as ks_exceptions

from imagelist.backends import glance as glance_backend
from imagelist.backends.opennebula import OneClient
from imagelist.errors import EXIT_EVENTS_FAILED, BackendUnavailableError
from tests.cache.support import CacheSite, build_cache_site
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.conftest import sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import Site


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (closed at exit)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def glance_site(
    sqlite_site: Site,  # noqa: F811
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    silent: SilentServer,
    monkeypatch: pytest.MonkeyPatch,
) -> CacheSite:
    """img-a subscribed; the Glance of clouds.yaml is the silent server."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n"
        "  silent:\n"
        "    auth_type: admin_token\n"
        "    auth:\n"
        f"      endpoint: {silent.url('/v2')}\n"
        '      token: "fake:ops:admin"\n'
    )
    config = tmp_path / "glance.toml"
    config.write_text('cloud = "silent"\nproject_id = "ops"\n')  # ADR 0013
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    monkeypatch.setenv("IMAGELIST_GLANCE_CONFIG", str(config))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for name in ("OS_CLOUD", "OS_AUTH_URL", "OS_TOKEN", "OS_USERNAME", "OS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return build_cache_site(sqlite_site, server, test_pki.good, tmp_path, {"img-a": 4096})


def test_glance_handler_against_a_silent_cloud_times_out_and_is_sent_again(
    glance_site: CacheSite, silent: SilentServer
) -> None:
    site = glance_site
    outbox = site.cache_dir / ".vmcatcher_cache.outbox"
    args = ("-j", "1", "--event-handler", "glance", "--handler-timeout", "1")
    started = time.monotonic()
    first = site.cache(*args, handler=False)
    assert time.monotonic() - started < 30, "the run does not block"
    assert first.code == EXIT_EVENTS_FAILED, first.err
    assert silent.accepted, "the handler did reach the cloud"
    assert "Traceback" not in first.err
    errors = [line for line in first.err.splitlines() if line.startswith("ERROR: ")]
    assert errors[0] == (
        "ERROR: event ProcessPrefix for - failed: glance: no answer after 1 s (timeout); abandoned"
    )
    assert errors[1].startswith(
        "ERROR: event AvailablePrefix for img-a failed: glance: not started: still busy with a "
        "ProcessPrefix event that timed out (started "
    )
    assert "; 4 event(s) failed; 2 event(s) pending" in first.out
    assert first.out.startswith("1 downloaded"), "the image itself is cached"
    pending = json.loads(outbox.read_text())
    assert [(r["type"], r["handler"], r["attempts"]) for r in pending] == [
        ("AvailablePrefix", "glance", 1),
        ("AvailablePostfix", "glance", 1),
    ]

    # the next run sends both again (the cloud is still silent: they fail again, attempt 2)
    second = site.cache(*args, "-v", handler=False)
    assert second.code == EXIT_EVENTS_FAILED, second.err
    assert "INFO: sending AvailablePostfix for img-a again (failed 1 time(s) since " in second.err
    assert [(r["type"], r["attempts"]) for r in json.loads(outbox.read_text())] == [
        ("AvailablePrefix", 2),
        ("AvailablePostfix", 2),
    ]


def test_the_cloud_clients_have_connect_and_read_timeouts(
    glance_site: CacheSite, silent: SilentServer
) -> None:
    connection = glance_backend.connect("silent")
    assert connection.config.config["api_timeout"] == glance_backend.API_TIMEOUT
    assert connection.session.timeout == glance_backend.API_TIMEOUT

    # clouds.yaml's own api_timeout wins; a request to the silent cloud then ends in time
    clouds = Path(os.environ["OS_CLIENT_CONFIG_FILE"])
    clouds.write_text(clouds.read_text().replace("  silent:\n", "  silent:\n    api_timeout: 1\n"))
    connection = glance_backend.connect("silent")
    assert connection.session.timeout == 1.0
    started = time.monotonic()
    with pytest.raises(ks_exceptions.ConnectionError):
        connection.session.get(silent.url("/v2/images"))
    assert time.monotonic() - started < 10

    # pyone: a real connect/read timeout, and no process-wide socket default set
    client = OneClient(silent.url("/RPC2"), "oneadmin:secret", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="cannot reach OpenNebula"):
        client.call("imagepool.info", -2, -1, -1, -1)
    assert time.monotonic() - started < 10
    assert socket.getdefaulttimeout() is None
