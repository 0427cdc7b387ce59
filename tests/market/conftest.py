"""Fixtures of the marketplace tests: an empty market database on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.subscriber.support import fresh_database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, then a database on the throwaway PostgreSQL server."""
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with fresh_database_url(request.param, tmp_path, postgres) as url:
        yield url
