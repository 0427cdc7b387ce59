"""Engines and Alembic migrations shared by vmcaster's and vmcatcher's databases.

SQLite (the default, as the old tools) gets WAL and a busy timeout (30 s, or the URL's
``?timeout=SECONDS``), so a cron job and an admin's command can use the same file; any other
SQLAlchemy URL (PostgreSQL is tested) works as given. Schemas are created and upgraded only
through Alembic migrations, never ``create_all``.

Every database access goes through :func:`transaction` (one unit of work, committed or rolled
back as a whole) or :func:`reader` (reads only). Both turn any database error into a
:class:`~imagelist.errors.DatabaseError` (exit 36) whose one line names the redacted URL and
the driver's reason. Engines are made with ``hide_parameters=True``: SQL parameters (a password
set with ``--uri-password-set``, for one) never appear in a message or a log.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, column, create_engine, event, inspect, select, table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from ..errors import DatabaseError, UsageError
from .files import create_sqlite_file_privately

__all__ = [
    "database_error",
    "db_reason",
    "hide_db_password",
    "make_engine",
    "migrate",
    "open_schema",
    "reader",
    "run_alembic_environment",
    "transaction",
]

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


_URL_HINT = "expected e.g. sqlite:////abs/path/vmcatcher.db or postgresql://user@host/dbname"
_PASSWORD_IN_TEXT = re.compile(r"(?<=:)[^:@/]*(?=@)")


def hide_db_password(url: str | URL) -> str:
    """A database URL with its password hidden (the user kept), for logs and messages.

    Not :func:`imagelist.urls.redact_url`, which drops the whole user info of a list URL.

    A value that is not a URL at all is echoed (it is what the admin typed), with anything
    between ``:`` and ``@`` hidden in case it holds a password.
    """
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
        return parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD_IN_TEXT.sub("***", " ".join(str(url).split()))


def _no_url(exc: BaseException, url: str) -> str:
    """Why ``url`` is not a usable URL, without repeating it (it may hold a password)."""
    text = " ".join(str(exc).split())
    if "Could not parse" in text:
        return "not a URL"
    return text.replace(url, "<url>")


def _sqlite_file(parsed: URL) -> Path | None:
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def make_engine(url: str, *, echo: bool = False, file_mode: int | None = None) -> Engine:
    """An engine for ``url``; SQLite files get WAL journaling, foreign keys and a busy timeout.

    A SQLite file that does not exist yet is created, and a warning names it with the way to
    choose another (``created new database ...; set VMCATCHER_RDBMS or -d``).
    """
    try:
        parsed = make_url(url)
        engine = create_engine(parsed, echo=echo, future=True, hide_parameters=True)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise UsageError(
            f"invalid database URL {hide_db_password(url)!r}: {_no_url(exc, url)} ({_URL_HINT})"
        ) from None
    except ImportError as exc:
        raise UsageError(
            f"database driver for {parsed.drivername} is not installed: {exc}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None:
            parent = path.resolve().parent
            if not parent.is_dir():
                raise UsageError(
                    f"cannot open database {hide_db_password(parsed)}: directory {parent} does not "
                    f"exist ({_URL_HINT})"
                )
        busy_ms = None if "timeout" in parsed.query else SQLITE_BUSY_TIMEOUT_MS
        if path is not None:
            create_sqlite_file_privately(engine, path, file_mode)  # 0600, not the umask's 0644

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if busy_ms is not None:
                cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if path is not None:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

    logger.info("database: %s", hide_db_password(url))
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


def database_error(
    engine: Engine, exc: BaseException, what: str = "database error"
) -> DatabaseError:
    """The one-line DatabaseError (36) for ``exc``: what failed, the redacted URL, the cause."""
    return DatabaseError(f"{what} on {hide_db_password(engine.url)}: {db_reason(exc)}")


@contextlib.contextmanager
def transaction(engine: Engine, *, expire_on_commit: bool = True) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back if it raises.

    Any database error (a locked SQLite file past its busy timeout, a server that is down, a
    constraint) becomes a :class:`DatabaseError` (exit 36) naming the URL and the cause; other
    errors pass through unchanged (after the rollback).
    """
    try:
        with Session(engine, expire_on_commit=expire_on_commit) as session, session.begin():
            yield session
    except SQLAlchemyError as exc:
        raise database_error(engine, exc) from None


@contextlib.contextmanager
def reader(engine: Engine) -> Iterator[Session]:
    """A session for reading; database errors become :class:`DatabaseError` as in
    :func:`transaction`. Nothing is committed."""
    try:
        with Session(engine) as session:
            yield session
    except SQLAlchemyError as exc:
        raise database_error(engine, exc) from None


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
    setting: str = "-d",
    file_mode: int | None = None,
) -> Engine:
    """An engine on ``url`` whose schema is at ``head``, migrating it first if needed.

    When the schema is current this costs one query and Alembic is not imported.
    ``check_unmigrated`` sees the table names of a database without our version stamp and may
    refuse it (e.g. an old tool's database that must be imported by a command instead).
    Raises UsageError for a bad URL or missing driver, DatabaseError when the database cannot
    be reached or migrated. A new SQLite file is announced with a warning naming it and
    ``setting`` (how to choose another database).
    """
    engine = make_engine(url, echo=echo, file_mode=file_mode)
    shown = hide_db_password(url)
    path = _sqlite_file(engine.url) if engine.url.get_backend_name() == "sqlite" else None
    created = path is not None and not path.exists()
    try:
        revision, names = _stamped_revision(engine, version_table)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open database {shown}: {db_reason(exc)}") from None
    if created and path is not None:
        logger.warning("created new database sqlite:///%s; set %s", path.resolve(), setting)
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
