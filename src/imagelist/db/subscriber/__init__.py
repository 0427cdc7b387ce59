"""vmcatcher's database: models, Alembic migrations and the migration of 0.6 databases.

:func:`open_database` is the one way in: it makes the engine (SQLite with WAL and a busy
timeout by default, or any SQLAlchemy URL), refuses a vmcatcher 0.6 database with a message
naming the migration command, and brings the schema to the current revision. When the schema is
already current it costs one query; migrations run once per process, never per subscription.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, column, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError

from ...errors import DatabaseError, LegacyDatabaseError
from ..engine import make_engine, migrate, redact_url

__all__ = [
    "DEFAULT_DATABASE_URL",
    "HEAD_REVISION",
    "LEGACY_TABLES",
    "SCRIPT_LOCATION",
    "VERSION_TABLE",
    "db_reason",
    "open_database",
]

logger = logging.getLogger(__name__)

#: As vmcatcher 0.6: a file ``vmcatcher.db`` in the current working directory.
DEFAULT_DATABASE_URL = "sqlite:///vmcatcher.db"
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0001_vmcatcher_initial"
VERSION_TABLE = "vmcatcher_alembic_version"
#: Tables of a vmcatcher 0.6 database (reference §2.5).
LEGACY_TABLES = frozenset(
    {
        "endorser",
        "endorserPrincible",
        "subscription",
        "subscriptionAuth",
        "ImageDefinition",
        "imageListInstance",
        "ImageInstance",
    }
)

_VERSION = table(VERSION_TABLE, column("version_num"))


def db_reason(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's background link."""
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split("\n", 1)[0].split())


def _inspect(engine: Engine) -> tuple[str | None, set[str]]:
    """(stamped revision or None, table names) of the database."""
    with engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
        if VERSION_TABLE not in names:
            return None, names
        row = connection.execute(select(_VERSION.c.version_num)).first()
    return (None if row is None else str(row[0])), names


def open_database(url: str, *, echo: bool = False) -> Engine:
    """An engine on ``url`` with the vmcatcher schema at :data:`HEAD_REVISION`.

    Raises UsageError for a bad URL or a missing driver, LegacyDatabaseError (36) for an
    unmigrated vmcatcher 0.6 database, DatabaseError (36) if it cannot be reached or migrated.
    """
    engine = make_engine(url, echo=echo)
    shown = redact_url(url)
    try:
        revision, names = _inspect(engine)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open database {shown}: {db_reason(exc)}") from None
    if revision == HEAD_REVISION:
        return engine
    if revision is None and "subscription" in names:
        raise LegacyDatabaseError(
            f"{shown} is a vmcatcher 0.6 database: migrate it into a new one with "
            f"'vmcatcher_subscribe -d NEW_URL --migrate-legacy-db {shown}' (see docs/vmcatcher.md)"
        )
    logger.info("migrating database %s to %s", shown, HEAD_REVISION)
    try:
        migrate(engine, SCRIPT_LOCATION)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot migrate database {shown}: {db_reason(exc)}") from None
    return engine
