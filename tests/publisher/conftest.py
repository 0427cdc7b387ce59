"""Fixtures of the vmcaster tests: databases (SQLite and PostgreSQL) and an OpenSSH server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.publisher.support import SshServer, fresh_postgres_database, running_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real OpenSSH server on 127.0.0.1 (skips, or fails under IMAGELIST_REQUIRE_PEERS=1)."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vmcaster.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    with fresh_postgres_database(server_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file URL in the test's directory."""
    return f"sqlite:///{tmp_path / 'vmcaster.db'}"
