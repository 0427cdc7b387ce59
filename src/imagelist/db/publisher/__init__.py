"""vmcaster's database: models, Alembic migrations and the import of 0.0.x databases.

:func:`open_database` is the one way in: it makes the engine (SQLite WAL and busy timeout, or
any SQLAlchemy URL) and brings the schema to the current revision through Alembic. When the
schema is already current, Alembic is not even imported (one query on the version table).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, inspect

from ..defaults import PUBLISHER_DATABASE_URL
from ..engine import hide_db_password, open_schema

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
DEFAULT_DATABASE_URL = PUBLISHER_DATABASE_URL
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


def has_legacy_tables(engine: Engine) -> bool:
    """Whether the database holds vmcaster 0.0.x tables."""
    with engine.connect() as connection:
        return LEGACY_TABLES.issubset(inspect(connection).get_table_names())


def _note_legacy_tables(url: str) -> Callable[[set[str]], None]:
    def check(names: set[str]) -> None:
        # Our tables are prefixed, so 0.0.x tables can stay: the import reads them in place.
        if LEGACY_TABLES.issubset(names):
            logger.warning(
                "database %s also holds vmcaster 0.0.x tables: import them with "
                "'vmcaster --import-legacy-db %s'",
                hide_db_password(url),
                hide_db_password(url),
            )

    return check


def open_database(url: str, *, file_mode: int | None = None) -> Engine:
    """An engine on ``url`` with the vmcaster schema at :data:`HEAD_REVISION`.

    Raises UsageError for a bad URL or a missing driver, DatabaseError if the database cannot
    be reached or migrated.
    """
    return open_schema(
        url,
        script_location=SCRIPT_LOCATION,
        head=HEAD_REVISION,
        version_table=VERSION_TABLE,
        check_unmigrated=_note_legacy_tables(url),
        setting="VMCASTER_RDBMS or -d",
        file_mode=file_mode,
    )
