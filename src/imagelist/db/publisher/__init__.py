"""vmcaster's database: models, Alembic migrations and the import of 0.0.x databases.

:func:`open_database` is the one way in: it makes the engine (SQLite WAL and busy timeout, or
any SQLAlchemy URL) and brings the schema to the current revision through Alembic. When the
schema is already current, Alembic is not even imported (one query on the version table).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, column, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError

from ...errors import DatabaseError
from ..engine import make_engine, migrate, redact_url

__all__ = [
    "DEFAULT_DATABASE_URL",
    "HEAD_REVISION",
    "LEGACY_TABLES",
    "SCRIPT_LOCATION",
    "VERSION_TABLE",
    "has_legacy_tables",
    "open_database",
]

logger = logging.getLogger(__name__)

#: As vmcaster 0.0.x: a file ``vmcaster.db`` in the current working directory.
DEFAULT_DATABASE_URL = "sqlite:///vmcaster.db"
#: The Alembic scripts of this database.
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
#: The newest migration; a test checks it against the scripts.
HEAD_REVISION = "0001_vmcaster_initial"
#: Alembic's version table for this database (see migrations/env.py).
VERSION_TABLE = "vmcaster_alembic_version"
#: Tables of a vmcaster 0.0.x database (reference §3.2).
LEGACY_TABLES = frozenset(
    {
        "endorser",
        "endorserMetadata",
        "imagelist",
        "ImagelistMetadata",
        "Image",
        "ImageMetadata",
        "Endorsement",
        "ImageListImage",
    }
)


_VERSION = table(VERSION_TABLE, column("version_num"))


def _current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None if it has none yet."""
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            row = connection.execute(select(_VERSION.c.version_num)).first()
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot open database {redact_url(str(engine.url))}: {_reason(exc)}"
        ) from None
    return None if row is None else str(row[0])


def _reason(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's background link."""
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split("\n", 1)[0].split())


def has_legacy_tables(engine: Engine) -> bool:
    """Whether the database holds vmcaster 0.0.x tables."""
    with engine.connect() as connection:
        return LEGACY_TABLES.issubset(inspect(connection).get_table_names())


def open_database(url: str) -> Engine:
    """An engine on ``url`` with the vmcaster schema at :data:`HEAD_REVISION`.

    Raises UsageError for a bad URL or a missing driver, DatabaseError if the database cannot
    be reached or migrated.
    """
    engine = make_engine(url)
    if _current_revision(engine) == HEAD_REVISION:
        return engine
    logger.info("migrating database %s to %s", redact_url(url), HEAD_REVISION)
    from alembic.util import CommandError  # Alembic is imported only when a migration runs

    try:
        migrate(engine, SCRIPT_LOCATION)
    except (SQLAlchemyError, CommandError) as exc:
        raise DatabaseError(f"cannot migrate database {redact_url(url)}: {_reason(exc)}") from None
    if has_legacy_tables(engine):
        logger.warning(
            "database %s also holds vmcaster 0.0.x tables: import them with "
            "'vmcaster --import-legacy-db %s'",
            redact_url(url),
            redact_url(url),
        )
    return engine
