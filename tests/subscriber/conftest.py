"""Fixtures of the subscriber tests (also imported by tests/security and tests/cli)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.support import Site, fresh_database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, then a database on the throwaway PostgreSQL server."""
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with fresh_database_url(request.param, tmp_path, postgres) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vmcatcher.db'}"


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


@pytest.fixture
def site(database_url: str, test_pki: TestPki) -> Site:
    """A site on SQLite and PostgreSQL, trusting the test PKI."""
    return Site(database_url, test_pki.trust_dir)


@pytest.fixture
def sqlite_site(sqlite_url: str, test_pki: TestPki) -> Site:
    """A site on SQLite only (for tests about behaviour, not the database)."""
    return Site(sqlite_url, test_pki.trust_dir)
