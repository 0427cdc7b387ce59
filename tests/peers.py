"""External peer programs (openssl, sshd, postgres, ...) the tests drive.

A missing peer skips the test, unless ``IMAGELIST_REQUIRE_PEERS=1`` (set by ``.ci/run``): then
it fails, because CI must exercise every peer.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_PEERS_ENV = "IMAGELIST_REQUIRE_PEERS"


def peers_required() -> bool:
    """Whether a missing peer is an error (``IMAGELIST_REQUIRE_PEERS=1``) rather than a skip."""
    return os.environ.get(REQUIRE_PEERS_ENV, "").strip() == "1"


def require_peer(name: str, reason: str) -> NoReturn:
    """Give up on a test that needs the peer ``name``: skip, or fail when peers are required.

    Call it when the peer was found unusable; ``reason`` says why (e.g. "not on PATH").
    """
    message = f"peer {name!r} unavailable: {reason}"
    if peers_required():
        pytest.fail(f"{message} ({REQUIRE_PEERS_ENV}=1 requires every peer)", pytrace=False)
    pytest.skip(message)


def peer_binary(name: str, package: str) -> str:
    """The path of the peer program ``name`` (Debian package ``package``), else skip or fail.

    Peers found this way: ``docker-registry`` (the OCI registry of tests/oci).
    """
    import shutil

    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        require_peer(name, f"not on PATH (Debian package {package})")
    return found
