"""What every command shares: logging flags, the one-line error report and exit codes."""

from __future__ import annotations

import argparse
import logging
import logging.config
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import ImageListError, UsageError
from ..fileio import replace_atomically

__all__ = ["add_logging_options", "configure_logging", "run_command", "write_output"]

logger = logging.getLogger("imagelist")

#: Exit code for an error nobody anticipated (sysexits EX_SOFTWARE); the message is still one line.
INTERNAL_ERROR = 70


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
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug, not bad input: still one line unless -v
        if verbose:
            traceback.print_exc()
        text = " ".join(str(exc).split())
        print(
            f"{prog}: internal error: {type(exc).__name__}: {text} (run with -v for details)",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


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
