"""The marketplace's database (``imagelist-market``): models and its own Alembic chain.

:func:`open_database` is the one way in: it makes the engine (SQLite WAL and busy timeout, or
any SQLAlchemy URL; PostgreSQL is tested) and brings the schema to :data:`HEAD_REVISION`
through Alembic. When the schema is current, Alembic is not imported.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from ..engine import open_schema

__all__ = ["HEAD_REVISION", "SCRIPT_LOCATION", "VERSION_TABLE", "open_database"]

#: The Alembic scripts of this database.
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
#: The newest migration; a test checks it against the scripts.
HEAD_REVISION = "0003_market_notifications"
#: Alembic's version table for this database (see migrations/env.py).
VERSION_TABLE = "market_alembic_version"


def open_database(url: str, *, echo: bool = False, file_mode: int | None = None) -> Engine:
    """An engine on ``url`` with the market schema at :data:`HEAD_REVISION`.

    Raises UsageError for a bad URL or a missing driver, DatabaseError if the database cannot
    be reached or migrated.
    """
    return open_schema(
        url,
        script_location=SCRIPT_LOCATION,
        head=HEAD_REVISION,
        version_table=VERSION_TABLE,
        echo=echo,
        setting="IMAGELIST_MARKET_DATABASE_URL or --database",
        file_mode=file_mode,
    )
