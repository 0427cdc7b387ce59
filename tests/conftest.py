"""Shared fixtures: external peers and the session test PKI (see tests/pki.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import require_peer
from tests.pki import TestPki, build_test_pki, openssl_available, openssl_path
from tests.postgres import running_postgres


@pytest.fixture(scope="session")
def openssl() -> str:
    """Path of the ``openssl`` binary: skip if absent (fail if IMAGELIST_REQUIRE_PEERS=1)."""
    path = openssl_path()
    if path is None or not openssl_available():
        require_peer("openssl", "no runnable openssl binary on PATH (or $IMAGELIST_OPENSSL)")
    return path


@pytest.fixture(scope="session")
def test_pki(openssl: str, tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """The session PKI and its IGTF trust directories, valid now (needs openssl for hashes)."""
    return build_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of an empty database on a throwaway PostgreSQL server (session-wide)."""
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="imagelist-pg-"))
    base.chmod(0o755)
    try:
        with running_postgres(base) as url:
            yield url
    finally:
        shutil.rmtree(base, ignore_errors=True)
