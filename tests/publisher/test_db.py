"""The vmcaster schema: Alembic migrations only, matching the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from imagelist.db.publisher import (
    HEAD_REVISION,
    SCRIPT_LOCATION,
    VERSION_TABLE,
    has_legacy_tables,
    open_database,
)
from imagelist.db.publisher.models import Base
from imagelist.errors import DatabaseError, UsageError


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def test_head_revision_constant_matches_the_scripts() -> None:
    assert ScriptDirectory.from_config(_config()).get_current_head() == HEAD_REVISION


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = open_database(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == HEAD_REVISION
    assert not has_legacy_tables(engine)
    engine.dispose()


def test_open_twice_and_downgrade(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    engine.dispose()
    engine = open_database(sqlite_url)  # already at head: no migration
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {VERSION_TABLE}
    engine.dispose()
    engine = open_database(sqlite_url)  # upgraded again
    assert "vmcaster_imagelist" in inspect(engine).get_table_names()
    engine.dispose()


def test_unreachable_database_is_one_line() -> None:
    with pytest.raises(DatabaseError, match="cannot open database") as info:
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert "\n" not in str(info.value)


def test_bad_url() -> None:
    with pytest.raises(UsageError, match="invalid database URL"):
        open_database("not a url")


def test_failed_migration_is_one_line(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = 'unknown'")
    engine.dispose()
    with pytest.raises(DatabaseError, match=r"cannot migrate database.*unknown") as info:
        open_database(sqlite_url)
    assert "\n" not in str(info.value)
