"""File modes of SQLite database files: created 0600 (or 0640 on request), never world-readable.

The subscriber's database holds the Basic-auth passwords of subscriptions and the publisher's the
endorser's lists before they are signed; SQLite would create the file with the process umask
(0644 under the usual 022). Here the file is created by us, before SQLite opens it, with mode
0600, or 0640 when ``IMAGELIST_DB_FILE_MODE=0640`` asks for a group (e.g. a cron user's group)
to read it. SQLite gives its ``-wal`` and ``-shm`` files the database file's mode. An existing
file is left as it is, with a warning if group or others may write it or others may read it.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from ..errors import UsageError
from ..fileio import create_exclusive

__all__ = [
    "DB_FILE_MODE_ENV",
    "DEFAULT_DB_FILE_MODE",
    "create_sqlite_file_privately",
    "sqlite_file_mode",
]

logger = logging.getLogger(__name__)

#: ``0600`` (the default) or ``0640``: the mode new SQLite database files are created with.
DB_FILE_MODE_ENV = "IMAGELIST_DB_FILE_MODE"
#: The mode of a new SQLite file when the command sets none.
DEFAULT_DB_FILE_MODE = 0o600
_MODES = {"0600": 0o600, "600": 0o600, "0640": 0o640, "640": 0o640}


def sqlite_file_mode(environ: Mapping[str, str]) -> int:
    """The mode from ``$IMAGELIST_DB_FILE_MODE`` (0600 or 0640; default 0600)."""
    text = environ.get(DB_FILE_MODE_ENV, "").strip()
    if not text:
        return DEFAULT_DB_FILE_MODE
    if text not in _MODES:
        raise UsageError(f"{DB_FILE_MODE_ENV} must be 0600 or 0640, not {text!r}")
    return _MODES[text]


def _create(path: Path, mode: int) -> None:
    try:
        descriptor = create_exclusive(path, mode)
    except FileExistsError:
        info = path.stat()
        if stat.S_IMODE(info.st_mode) & 0o026:
            logger.warning(
                "database file %s has mode %04o: readable or writable by others (chmod 600 %s)",
                path,
                stat.S_IMODE(info.st_mode),
                path,
            )
        return
    try:
        os.fchmod(descriptor, mode)  # exactly this mode, whatever the umask
    finally:
        os.close(descriptor)
    logger.debug("created database file %s with mode %04o", path, mode)


def create_sqlite_file_privately(engine: Engine, path: Path, mode: int | None = None) -> None:
    """Before the first SQLite connection on ``engine``, create ``path`` with the private mode
    (``mode``: the command's setting, from :func:`sqlite_file_mode`; default 0600)."""
    mode = DEFAULT_DB_FILE_MODE if mode is None else mode
    checked: list[bool] = []

    @event.listens_for(engine, "do_connect")
    def _create_file(*_args: Any) -> None:
        if checked:
            return
        try:
            _create(path, mode)
        except OSError as exc:  # SQLite reports the same problem, with its own words
            logger.debug("cannot create %s beforehand: %s", path, exc.strerror)
        checked.append(True)
