"""``imagelist-market serve``: the real uvicorn on loopback (embedded default, then two
workers); an endorser imports a signed list, a kill -9 during a check leaves a job that the
restarted service fails with the reason, and the next check verifies and publishes."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.httpserver import HttpServer
from tests.market.pubsupport import service_credential
from tests.pki import TestPki
from tests.subscriber.support import make_image, make_list, sign

DATA = b"served by the loopback image server " * 2000
IMAGE_ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
CLI = [sys.executable, "-m", "imagelist.cli.imagelist_market"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run([*CLI, *argv], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def serving(env: dict[str, str], port: int, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stderr:
            process.stderr.close()


def _wait(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_serve_import_kill_restart_publish(tmp_path: Path, test_pki: TestPki) -> None:
    cert, key = service_credential(test_pki).write(tmp_path / "service")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "IMAGELIST_MARKET_HOME": str(tmp_path / "market"),
        "IMAGELIST_MARKET_CA_DIR": str(test_pki.trust_dir),
        "IMAGELIST_MARKET_SIGNER_CERT": str(cert),
        "IMAGELIST_MARKET_SIGNER_KEY": str(key),
        "IMAGELIST_MARKET_INTEGRITY_LEASE_SECONDS": "1",
        "IMAGELIST_MARKET_INTEGRITY_STALL_SECONDS": "60",
    }
    good = test_pki.good
    person = _cli(env, "person", "create", "Ann")
    _cli(
        env,
        "identity",
        "add",
        person,
        "--dn",
        good.subject_oneline,
        "--issuer",
        good.issuer_oneline,
    )
    token = _cli(env, "token", "create", person, "--name", "vmcaster")
    auth = {"Authorization": f"Bearer {token}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with HttpServer() as images:
        images.put("/img", DATA, stall_after=10, stall_for=120)
        image = make_image(
            IMAGE_ID,
            content=DATA,
            uri=images.url("/img"),
            unrecognized_fields={"hv:format": "QCOW2", "sl:osname": "CentOS"},
        )
        signed = sign(make_list(good, version="9.1", images=[image]), good)
        with serving(env, port) as process:
            created = httpx.post(
                f"{base}/api/v1/appliances",
                json={"slug": "centos", "title": "CentOS"},
                headers=auth,
            )
            assert created.status_code == 201, created.text
            imported = httpx.post(
                f"{base}/api/v1/appliances/centos/versions/import?verify=true",
                content=signed,
                headers=auth,
            )
            assert imported.status_code == 201, imported.text
            answer = imported.json()
            assert answer["state"] == "verifying"
            status_url = f"{base}{answer['url']}/integrity"
            _wait(lambda: httpx.get(status_url).json()["job"]["state"] == "running")
            os.killpg(process.pid, signal.SIGKILL)  # no chance to requeue: a crash
            process.wait(timeout=10)
        images.put("/img", DATA)
        with serving(env, port, "--workers", "2"):
            status = _wait(
                lambda: (s := httpx.get(status_url).json())["job"]["state"] == "failed" and s
            )
            assert "the service stopped while the job was running" in status["job"]["error"]
            assert status["state"] == "failed"
            again = httpx.post(
                f"{base}{answer['url']}/integrity", json={"publish": True}, headers=auth
            )
            assert again.status_code == 202, again.text
            _wait(lambda: httpx.get(f"{base}{answer['url']}").json()["state"] == "published")
            listing = httpx.get(f"{base}/store/vappliance/centos/image.list")
            assert listing.status_code == 200
            assert b"hv:imagelist" in listing.content
            etag = listing.headers["ETag"]
            cached = httpx.get(
                f"{base}/store/vappliance/centos/image.list", headers={"If-None-Match": etag}
            )
            assert cached.status_code == 304
            endorsed = httpx.get(f"{base}{answer['url']}/endorsed")
            assert endorsed.content == signed
            assert hashlib.sha512(DATA).hexdigest() in httpx.get(f"{base}{answer['url']}").text
