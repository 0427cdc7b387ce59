"""Engines and Alembic migrations shared by vmcaster's and vmcatcher's databases.

SQLite (the default, as the old tools) gets WAL and a busy timeout, so a cron job and an admin's
command can use the same file; any other SQLAlchemy URL (PostgreSQL is tested) works as given.
Schemas are created and upgraded only through Alembic migrations, never ``create_all``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, column, create_engine, event, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ..errors import DatabaseError, UsageError

__all__ = [
    "db_reason",
    "make_engine",
    "migrate",
    "open_schema",
    "redact_url",
    "run_alembic_environment",
]

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def redact_url(url: str) -> str:
    """The URL with any password hidden, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get WAL journaling, foreign keys and a busy timeout."""
    try:
        parsed = make_url(url)
        engine = create_engine(parsed, echo=echo, future=True)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise UsageError(f"invalid database URL {redact_url(url)}: {exc}") from None
    except ImportError as exc:
        raise UsageError(
            f"database driver for {parsed.drivername} is not installed: {exc}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            parent = Path(database).expanduser().resolve().parent
            if not parent.is_dir():
                raise UsageError(
                    f"cannot open database {database}: directory {parent} does not exist"
                )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if database and database != ":memory:":
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

    logger.info("database: %s", redact_url(url))
    return engine


def migrate(engine: Engine, script_location: Path, *, revision: str = "head") -> None:
    """Bring the database to ``revision`` with the Alembic scripts in ``script_location``.

    Alembic is imported here, not at module load: opening a current database never needs it.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def run_alembic_environment(metadata: MetaData, version_table: str) -> None:
    """The body of a migrations ``env.py``: migrate on the connection :func:`migrate` passed."""
    from alembic import context

    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def db_reason(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's background link."""
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split("\n", 1)[0].split())


def _stamped_revision(engine: Engine, version_table: str) -> tuple[str | None, set[str]]:
    """(revision stamped in ``version_table`` or None, names of all tables)."""
    with engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
        if version_table not in names:
            return None, names
        versions = table(version_table, column("version_num"))
        row = connection.execute(select(versions.c.version_num)).first()
    return (None if row is None else str(row[0])), names


def open_schema(
    url: str,
    *,
    script_location: Path,
    head: str,
    version_table: str,
    check_unmigrated: Callable[[set[str]], None] | None = None,
    echo: bool = False,
) -> Engine:
    """An engine on ``url`` whose schema is at ``head``, migrating it first if needed.

    When the schema is current this costs one query and Alembic is not imported.
    ``check_unmigrated`` sees the table names of a database without our version stamp and may
    refuse it (e.g. an old tool's database that must be imported by a command instead).
    Raises UsageError for a bad URL or missing driver, DatabaseError when the database cannot
    be reached or migrated.
    """
    engine = make_engine(url, echo=echo)
    shown = redact_url(url)
    try:
        revision, names = _stamped_revision(engine, version_table)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open database {shown}: {db_reason(exc)}") from None
    if revision == head:
        return engine
    if revision is None and check_unmigrated is not None:
        check_unmigrated(names)
    logger.info("migrating database %s to %s", shown, head)
    from alembic.util import CommandError

    try:
        migrate(engine, script_location)
    except (SQLAlchemyError, CommandError) as exc:
        raise DatabaseError(f"cannot migrate database {shown}: {db_reason(exc)}") from None
    return engine
