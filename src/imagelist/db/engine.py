"""Engines and Alembic migrations shared by vmcaster's and vmcatcher's databases.

SQLite (the default, as the old tools) gets WAL and a busy timeout, so a cron job and an admin's
command can use the same file; any other SQLAlchemy URL (PostgreSQL is tested) works as given.
Schemas are created and upgraded only through Alembic migrations, never ``create_all``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..errors import UsageError

__all__ = ["make_engine", "migrate", "redact_url"]

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
    """Bring the database to ``revision`` with the Alembic scripts in ``script_location``."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
