"""The vmcatcher database: migrations on SQLite and PostgreSQL, models in sync, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from imagelist.db.subscriber import HEAD_REVISION, VERSION_TABLE, open_database
from imagelist.db.subscriber.models import Base, UTCDateTime
from imagelist.errors import DatabaseError, LegacyDatabaseError, UsageError


def test_schema_is_created_and_matches_the_models(database_url: str) -> None:
    engine = open_database(database_url)
    with engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        assert {table.name for table in Base.metadata.sorted_tables} | {VERSION_TABLE} == tables
        revision = connection.execute(sa.text(f"select version_num from {VERSION_TABLE}"))
        assert revision.scalar_one() == HEAD_REVISION
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "the migration and the models must describe the same schema"
    again = open_database(database_url)  # already current: no migration
    again.dispose()
    engine.dispose()


def test_sqlite_gets_wal(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'v.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_a_legacy_database_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE subscription (id INTEGER PRIMARY KEY)")
    with pytest.raises(LegacyDatabaseError) as caught:
        open_database(f"sqlite:///{path}")
    assert "--migrate-legacy-db" in str(caught.value)
    assert caught.value.exit_code == 36


def test_unreachable_and_invalid_databases() -> None:
    with pytest.raises(DatabaseError) as caught:
        open_database("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    assert "\n" not in str(caught.value)
    with pytest.raises(UsageError):
        open_database("nonsense://")


def test_broken_migration_target(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE endorser (x INTEGER)")  # clashes with the migration
    with pytest.raises(DatabaseError, match="cannot migrate"):
        open_database(f"sqlite:///{path}")


def test_times_are_utc() -> None:
    kind = UTCDateTime()
    dialect = sa.create_engine("sqlite://").dialect
    assert kind.process_result_value(None, dialect) is None
    import datetime as dt

    aware = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    stored = kind.process_bind_param(aware, dialect)
    assert stored == dt.datetime(2026, 1, 1, 10)
    assert kind.process_result_value(stored, dialect) == aware
    assert kind.process_result_value(aware, dialect) == aware
    assert kind.process_bind_param(None, dialect) is None
