"""What the three vmcatcher commands share: common options, the one-action rule, the database."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..db.defaults import SUBSCRIBER_DATABASE_URL
from ..errors import UsageError
from ..subscriber.settings import FORMATS, database_url, log_config, output_format
from ._common import add_logging_options, configure_logging
from ._settings import settings_of

if TYPE_CHECKING:  # imported when the command runs: --help needs no SQLAlchemy
    from sqlalchemy import Engine

__all__ = [
    "add_common_logging",
    "add_common_settings",
    "add_database_option",
    "add_format_option",
    "add_output_option",
    "open_engine",
    "selected_action",
    "setup_logging",
]


def add_database_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``-d/--database`` and ``--log-sql-info``."""
    parser.add_argument(
        "-d",
        "--database",
        metavar="URL",
        help=f"SQLAlchemy database URL (default: $VMCATCHER_RDBMS, else {SUBSCRIBER_DATABASE_URL})",
    )
    parser.add_argument("--log-sql-info", action="store_true", help="echo the SQL statements")


def add_format_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``-f/--format``."""
    parser.add_argument(
        "-f",
        "--format",
        metavar="FORMAT",
        help=f"output format: {', '.join(FORMATS)} (default: $VMCATCHER_OUTPUT_FORMAT, else lines)",
    )


def add_output_option(group: argparse._ArgumentGroup) -> None:
    """``-o/--output FILE`` (repeatable), paired with the selections in order."""
    group.add_argument(
        "-o", "--output", action="append", default=[], help="output file, paired with selections"
    )


def add_common_settings(parser: argparse.ArgumentParser, options: argparse._ArgumentGroup) -> None:
    """What every vmcatcher command but the cache ends with: ``-f``, ``-d``, then logging."""
    add_format_option(options)
    add_database_option(options)
    add_common_logging(parser)


def add_common_logging(parser: argparse.ArgumentParser) -> None:
    """``-v``/``-q``/``--log-config`` (default ``$VMCATCHER_LOG_CONF``)."""
    add_logging_options(parser, env_var="VMCATCHER_LOG_CONF")


def setup_logging(args: argparse.Namespace) -> str:
    """Configure logging from -v/-q/--log-config and return the output format."""
    environ = settings_of(args).environ
    configure_logging(args.verbose, args.quiet, log_config(args.log_config, environ))
    return output_format(args.format, environ)


def selected_action(args: argparse.Namespace, actions: Sequence[str]) -> str:
    """The one action asked for; vmcatcher's messages when there are none or several."""
    chosen = [name for name in actions if getattr(args, name)]
    if not chosen:
        raise UsageError("No actions selected")
    if len(chosen) > 1:
        raise UsageError(f"More than one action selected: {', '.join(chosen)}")
    return chosen[0]


def open_engine(args: argparse.Namespace) -> Engine:
    """The migrated database named by -d / $VMCATCHER_RDBMS / the default."""
    settings = settings_of(args)
    url = database_url(args.database, settings.environ)
    from ..db.subscriber import open_database

    return open_database(url, echo=bool(args.log_sql_info), file_mode=settings.db_file_mode())
