"""vmcatcher's database: models, Alembic migrations and the migration of 0.6 databases.

:func:`open_database` is the one way in: it makes the engine (SQLite with WAL and a busy
timeout by default, or any SQLAlchemy URL), refuses a vmcatcher 0.6 database with a message
naming the migration command, and brings the schema to the current revision. When the schema is
already current it costs one query; migrations run once per process, never per subscription.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from ...errors import LegacyDatabaseError
from ..defaults import SUBSCRIBER_DATABASE_URL
from ..engine import db_reason, hide_db_password, open_schema

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
DEFAULT_DATABASE_URL = SUBSCRIBER_DATABASE_URL
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0003_vmcatcher_openpgp"
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


def _refuse_legacy(url: str) -> Callable[[set[str]], None]:
    def check(names: set[str]) -> None:
        if "subscription" in names:
            shown = hide_db_password(url)
            raise LegacyDatabaseError(
                f"{shown} is a vmcatcher 0.6 database: migrate it into a new one with "
                f"'vmcatcher_subscribe -d NEW_URL --migrate-legacy-db {shown}' "
                "(see docs/vmcatcher.md)"
            )

    return check


def open_database(url: str, *, echo: bool = False, file_mode: int | None = None) -> Engine:
    """An engine on ``url`` with the vmcatcher schema at :data:`HEAD_REVISION`.

    Raises UsageError for a bad URL or a missing driver, LegacyDatabaseError (36) for an
    unmigrated vmcatcher 0.6 database, DatabaseError (36) if it cannot be reached or migrated.
    """
    return open_schema(
        url,
        script_location=SCRIPT_LOCATION,
        head=HEAD_REVISION,
        version_table=VERSION_TABLE,
        check_unmigrated=_refuse_legacy(url),
        setting="VMCATCHER_RDBMS or -d",
        echo=echo,
        file_mode=file_mode,
    )
