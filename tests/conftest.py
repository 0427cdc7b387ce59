"""Shared fixtures: external peers and the session test PKI (see tests/pki.py)."""

from __future__ import annotations

import pytest

from tests.peers import require_peer
from tests.pki import TestPki, build_test_pki, openssl_available, openssl_path


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
