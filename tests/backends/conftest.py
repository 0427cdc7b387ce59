"""Fixtures of the backend tests: qemu-img, small disk images, the fake oned, a real Glance."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.glance_server import GlanceServer, GlanceUnavailable, start_glance
from tests.backends.support import Cache
from tests.fakes.oned import FakeOned
from tests.fakes.oned_contract import Contract
from tests.peers import require_peer


@pytest.fixture(scope="session")
def qemu_img() -> str:
    """Path of qemu-img (Debian qemu-utils): skip if absent (fail if peers are required)."""
    path = shutil.which("qemu-img")
    if path is None:
        require_peer("qemu-img", "not on PATH (Debian package qemu-utils)")
    return path


@pytest.fixture
def cache(tmp_path: Path, qemu_img: str) -> Cache:
    """A vmcatcher cache directory to put small real disk images in."""
    return Cache(tmp_path / "cache", qemu_img)


@pytest.fixture
def contract() -> Contract:
    """What the fake oned must honour: OpenNebula's schemas and API reference (oned_contract)."""
    return Contract()


@pytest.fixture
def oned(contract: Contract) -> Iterator[FakeOned]:
    """The fake oned; every call made to it is checked against OpenNebula's contract."""
    with FakeOned() as server:
        assert server.server is not None
        contract.attach(server.server)
        yield server
    contract.check()


@pytest.fixture(scope="session")
def glance_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlanceServer]:
    """A real Glance (session-wide): skip if it cannot be installed or started."""
    try:
        with start_glance(tmp_path_factory.mktemp("glance")) as server:
            yield server
    except GlanceUnavailable as exc:
        require_peer("glance", str(exc))


@pytest.fixture
def glance(glance_server: GlanceServer, monkeypatch: pytest.MonkeyPatch) -> GlanceServer:
    """The real Glance, reachable through OS_CLIENT_CONFIG_FILE as at a site; running."""
    if glance_server.process is None:
        glance_server.start()
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(glance_server.clouds_yaml))
    for name in ("OS_CLOUD", "OS_AUTH_URL", "OS_TOKEN", "OS_USERNAME", "OS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return glance_server


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True)
