"""Fixtures of the marketplace tests: an empty market database on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.httpserver import HttpServer
from tests.market.pubsupport import service_credential
from tests.market.support import Market, running_market, settings_for
from tests.pki import TestPki
from tests.subscriber.support import fresh_database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, then a database on the throwaway PostgreSQL server."""
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with fresh_database_url(request.param, tmp_path, postgres) as url:
        yield url


@pytest.fixture
def market(database_url: str, tmp_path: Path, test_pki: TestPki) -> Iterator[Market]:
    """A market on SQLite and PostgreSQL, trusting the test PKI for imports."""
    cert, key = service_credential(test_pki).write(tmp_path / "service")
    settings = settings_for(
        tmp_path, database_url, ca_dir=test_pki.trust_dir, signer_cert=cert, signer_key=key
    )
    with running_market(settings) as running:
        yield running


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running
