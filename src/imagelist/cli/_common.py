"""What every command shares: the parser, logging flags, the one-line error report, exit codes.

Every command builds its parser with :func:`make_parser`: a usage error is one line
``prog: error: <what> (see prog --help)`` and exit 1 (as the old tools documented), an option is
only recognised when spelled in full (argparse's prefix matching ran ``--updat`` as ``--update``),
and ``--version`` prints the package version.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import logging.config
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from ..errors import EXIT_INTERNAL_ERROR, DatabaseError, ImageListError, UsageError
from ..fileio import replace_atomically
from ..site_config import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    SiteConfig,
    apply_site_config,
    restore_environment,
)
from ._settings import command_settings

__all__ = [
    "CommandParser",
    "add_logging_options",
    "configure_logging",
    "freeze_at_exit",
    "make_parser",
    "parse_with_settings",
    "parse_with_site_config",
    "run_command",
    "write_output",
]

logger = logging.getLogger("imagelist")

#: Exit code for an error nobody anticipated (sysexits EX_SOFTWARE); the message is still one line.
INTERNAL_ERROR = EXIT_INTERNAL_ERROR


class CommandParser(argparse.ArgumentParser):
    """argparse with one error style for every command: one line naming the problem, exit 1.

    Options must be spelled in full (``allow_abbrev=False``); sub-command parsers inherit both.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def make_parser(prog: str, *, site_config: bool = False, **kwargs: Any) -> CommandParser:
    """The parser of command ``prog`` (keyword arguments as argparse's), with ``--version``.

    ``site_config``: the command reads the site configuration file (``--config FILE``); parse
    its arguments with :func:`parse_with_site_config`.
    """
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    parser = CommandParser(prog=prog, **kwargs)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (imagelist {__version__})"
    )
    if site_config:
        parser.add_argument(
            "--config",
            metavar="FILE",
            help=f"site configuration file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG_PATH} "
            "if present); options and environment variables override it",
        )
    return parser


def parse_with_site_config(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> argparse.Namespace:
    """``argv`` parsed with the site configuration file below the options and the environment.

    ``args.settings`` is the command's one :class:`~._settings.Settings` (ADR 0024).
    """
    process = dict(os.environ)  # before the file's variables are applied
    args, config = apply_site_config(parser, argv)
    args.settings = command_settings(config, process)
    return args


def parse_with_settings(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``argv`` parsed, for a command without the site file's options: ``args.settings`` is its
    one :class:`~._settings.Settings`, the process environment taken once (ADR 0024)."""
    args = parser.parse_args(argv)
    args.settings = command_settings(SiteConfig())
    return args


def add_logging_options(parser: argparse.ArgumentParser, *, env_var: str | None) -> None:
    """``-v``/``-q`` counters and ``--log-config``, as the old tools had them."""
    group = parser.add_argument_group("logging")
    group.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output (-vv debug, tracebacks)"
    )
    group.add_argument("-q", "--quiet", action="count", default=0, help="less output")
    where = f" (default: ${env_var})" if env_var else ""
    group.add_argument(
        "--log-config",
        metavar="FILE",
        help=f"Python logging configuration file (ini format){where}",
    )


def configure_logging(verbose: int, quiet: int, config_file: str | None) -> None:
    """WARNING by default; each -v one step more, each -q one step less."""
    if config_file:
        if not Path(config_file).is_file():
            raise UsageError(f"logging configuration file {config_file} does not exist")
        logging.config.fileConfig(config_file, disable_existing_loggers=False)
        return
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(
        level=max(logging.DEBUG, min(level, logging.CRITICAL)),
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def freeze_at_exit() -> None:
    """At interpreter exit, skip the collections of every object still alive (once per process).

    Python's exit collects garbage twice over everything loaded (SQLAlchemy, cryptography,
    requests: about 80,000 objects), 0.15 to 0.4 s of CPU for a process that is ending anyway;
    ``gc.freeze`` moves them out of the collector's reach first (ADR 0027). Only for commands
    that close what they opened (the database engine is disposed): an object left in a reference
    cycle is not finalized at exit, and the operating system frees it.
    """
    atexit.unregister(gc.freeze)  # registered once, however often a test calls main()
    atexit.register(gc.freeze)


def run_command(
    prog: str, body: Callable[[Sequence[str]], int], argv: Sequence[str] | None = None
) -> int:
    """Run a command body; turn every error into one line on stderr and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = any(arg in ("-v", "--verbose") or arg.startswith("-vv") for arg in args)
    try:
        return body(args)
    except ImageListError as exc:
        if verbose:
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug, not bad input: still one line unless -v
        if verbose:
            traceback.print_exc()
        database = _database_error(exc)
        if database is not None:  # a database error no access point caught: still exit 36
            print(f"{prog}: error: {database}", file=sys.stderr)
            return database.exit_code
        text = " ".join(str(exc).split())
        print(
            f"{prog}: internal error: {type(exc).__name__}: {text} (run with -v for details)",
            file=sys.stderr,
        )
        return INTERNAL_ERROR
    finally:
        restore_environment()  # the file's variables, for a command run in-process


def _database_error(exc: Exception) -> DatabaseError | None:
    """A DatabaseError for a SQLAlchemy error (its first line only: never the SQL parameters)."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is None or not isinstance(exc, sqlalchemy_exc.SQLAlchemyError):
        return None
    from ..db.engine import db_reason

    return DatabaseError(f"database error: {db_reason(exc)}")


def write_output(path: str | None, data: str | bytes) -> None:
    """Write to ``path`` (replaced atomically) or to standard output."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if path is None or path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    try:
        replace_atomically(Path(path), payload)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
