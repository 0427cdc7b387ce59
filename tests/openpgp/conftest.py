"""Fixtures of the OpenPGP tests: a GnuPG home with a good key and another endorser's key."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.openpgp.gpg import Key, Keyring
from tests.subscriber.conftest import (  # noqa: F401
    database_url,
    server,
    site,
    sqlite_site,
    sqlite_url,
)


def _stop_agent(home: Path) -> None:
    gpgconf = shutil.which("gpgconf")
    if gpgconf:
        subprocess.run(
            [gpgconf, "--homedir", str(home), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
            timeout=30,
        )


@pytest.fixture(scope="session")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyring]:
    """One GNUPGHOME for the session; its gpg-agent is stopped at the end."""
    home = tmp_path_factory.mktemp("gnupg") / "home"
    ring = Keyring(home)
    try:
        yield ring
    finally:
        _stop_agent(home)


@pytest.fixture
def fresh_keyring(tmp_path: Path) -> Iterator[Keyring]:
    """A GNUPGHOME of this test only (for keys that get revoked or changed)."""
    ring = Keyring(tmp_path / "gnupg")
    try:
        yield ring
    finally:
        _stop_agent(ring.home)


@pytest.fixture(scope="session")
def good_key(keyring: Keyring) -> Key:
    return keyring.generate("endorser")


@pytest.fixture(scope="session")
def other_key(keyring: Keyring) -> Key:
    return keyring.generate("someone-else")
