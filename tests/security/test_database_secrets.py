"""Leak: a database error printed the SQL parameters, a password among them (issue 10 §4).

``vmcatcher_subscribe --uri-password-set`` on a SQLite file locked by another process used to
end in "internal error" (exit 70) with the whole SQLAlchemy message, ``[parameters: (...,
'the password', ...)]`` included. Now every database error is exit 36 with one line naming the
URL and the cause, and the password reaches neither stderr nor the logs, not even with
``-vv --log-sql-info``. Run as the installed scripts, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.postgres import running_postgres
from tests.subscriber.support import Site

SECRET = "pw-Zq8-never-shown"
SUBSCRIPTION = "sub-secret"


def _script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_script("vmcatcher_subscribe"), *argv], capture_output=True, text=True, check=False
    )


def _add_subscription(url: str) -> None:
    from sqlalchemy import insert

    from imagelist.db.engine import transaction
    from imagelist.db.subscriber import open_database
    from imagelist.db.subscriber.models import Subscription

    engine = open_database(url)
    try:
        with transaction(engine) as session:
            session.execute(
                insert(Subscription).values(
                    identifier=SUBSCRIPTION, uri="http://127.0.0.1:9/image.list"
                )
            )
    finally:
        engine.dispose()


def _password(site: Site) -> list[tuple[object, ...]]:
    return site.query(f"SELECT password FROM subscription WHERE identifier = '{SUBSCRIPTION}'")


def test_password_is_never_logged_even_with_sql_echo(site: Site) -> None:
    _add_subscription(site.database)
    result = _run(
        "--uri-password-set", SECRET, "-u", SUBSCRIPTION, "-d", site.database, "-vv",
        "--log-sql-info",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "UPDATE subscription" in result.stderr, "the SQL echo is on"
    assert SECRET not in result.stdout + result.stderr
    assert _password(site) == [(SECRET,)]


def test_locked_sqlite_is_exit_36_without_the_password(tmp_path: Path) -> None:
    path = tmp_path / "vmcatcher.db"
    url = f"sqlite:///{path}?timeout=0.2"
    _add_subscription(url)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE subscription SET description = 'held'")
        for verbosity in ([], ["-vv", "--log-sql-info"]):
            result = _run("--uri-password-set", SECRET, "-u", SUBSCRIPTION, "-d", url, *verbosity)
            assert result.returncode == 36, result.stderr
            assert SECRET not in result.stdout + result.stderr
            assert "internal error" not in result.stderr
            assert "[parameters" not in result.stderr
            errors = [line for line in result.stderr.splitlines() if ": error: " in line]
            assert errors == [
                f"vmcatcher_subscribe: error: database error on {url}: database is locked"
            ]
    finally:
        holder.close()
    site = Site(url, tmp_path)
    assert _password(site) == [(None,)], "nothing was written"


def test_stopped_postgresql_is_exit_36_without_the_password() -> None:
    """A PostgreSQL server that held the database and was then stopped (its own server, so the
    session's is not disturbed); the URL carries a password, which must stay hidden."""
    base = Path(tempfile.mkdtemp(prefix="imagelist-pg-stop-"))
    base.chmod(0o755)
    try:
        with running_postgres(base) as url:
            _add_subscription(url)
            assert _run("-l", "-d", url).returncode == 0
        stopped = make_url(url).set(password=SECRET)
        for argv in (["-l"], ["--uri-password-set", SECRET, "-u", SUBSCRIPTION]):
            result = _run(*argv, "-d", stopped.render_as_string(hide_password=False))
            assert result.returncode == 36, result.stderr
            assert SECRET not in result.stdout + result.stderr
            shown = stopped.render_as_string(hide_password=True)
            assert result.stderr.startswith(
                f"vmcatcher_subscribe: error: cannot open database {shown}: "
            ), result.stderr
            assert result.stderr.count("\n") == 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Site:
    return Site(database_url, tmp_path)
