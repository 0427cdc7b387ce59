"""The PostgreSQL fixture starts a real server that answers SQL."""

from __future__ import annotations

import pytest


def test_postgres_answers(postgres_url: str) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select 41 + 1")).scalar_one() == 42
    engine.dispose()
