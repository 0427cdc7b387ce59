"""The ``vmcatcher_cache`` command line: options, environment and exit codes (its ``--help``).

Kept apart from :mod:`.vmcatcher_cache`, which turns the parsed options into a run.
"""

from __future__ import annotations

import argparse
import re

from ..cache.attempts import DEFAULT_MAX_TRIES
from ..cache.safefs import DEFAULT_DIR_MODE, DEFAULT_FILE_MODE
from ..events import (
    DEFAULT_HANDLER_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
)
from ._cache_output import (
    add_format_option,
)
from ._common import make_parser
from ._fetch_options import add_fetch_limit_options
from ._monitoring_options import add_monitoring_options
from ._vmcatcher_options import add_common_logging, add_database_option

PROG = "vmcatcher_cache"
EPILOG = """\
environment: VMCATCHER_RDBMS, VMCATCHER_CACHE_DIR_CACHE, VMCATCHER_CACHE_DIR_DOWNLOAD,
VMCATCHER_CACHE_DIR_EXPIRE, VMCATCHER_CACHE_EVENT, VMCATCHER_CACHE_ACTION_DOWNLOAD|CHECK|EXPIRE
(only "1" counts), VMCATCHER_LOG_CONF, VMCATCHER_DIR_CERT.

exit codes: 0 done (also when another run holds the cache); 40 an image failed to download or
verify, or is given up (see the summary line; --status, --reset-tries); 41 an event handler
failed or timed out (the event is sent again next run), or dead letters wait
(--list-dead-letters); 1 usage, or a cache step failed (directory, index, move, disk); 36
database error; 70 internal error; 78 the event command cannot run (not found, not
executable); 130 interrupted (partial files are kept; the next run resumes). 40 wins over 41;
1, 36, 70 and 78 win over both.
"""
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _size(text: str) -> int:
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (e.g. 500G, 2T, 1048576)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def _mode(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"invalid mode {text!r} (octal, e.g. 0750)")
    return value


def add_cache_dir_options(group: argparse._ActionsContainer) -> None:
    """``-C/--cache-dir`` and ``-p/--partial-dir`` (also read by ``vmcatcher_status``)."""
    group.add_argument(
        "-C", "--cache-dir", metavar="DIR", help="default: $VMCATCHER_CACHE_DIR_CACHE, else cache"
    )
    group.add_argument(
        "-p",
        "--partial-dir",
        metavar="DIR",
        help="default: $VMCATCHER_CACHE_DIR_DOWNLOAD, else CACHE/partial",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line, with vmcatcher 0.6's option names first."""
    parser = make_parser(
        PROG,
        site_config=True,
        description="Keep the subscribed images in a local cache and tell the event handler.",
        epilog=EPILOG,
    )
    actions = parser.add_argument_group("actions (default: expire then download)")
    actions.add_argument(
        "-E", "--expire", action="store_true", help="retire images no longer subscribed/available"
    )
    actions.add_argument(
        "-s", "--sha512", action="store_true", help="hash every cached image again"
    )
    actions.add_argument(
        "-D", "--download", action="store_true", help="download subscribed images (implies -E)"
    )
    actions.add_argument(
        "--drop-pending-events",
        action="store_true",
        help="forget the events waiting to be sent again, then stop",
    )
    actions.add_argument(
        "--status",
        action="store_true",
        help="list each wanted image's state (cached, to download, given up), then stop; "
        "exit 40 if any is given up",
    )
    actions.add_argument(
        "--reset-tries",
        nargs="*",
        metavar="ID",
        help="forget the failed download attempts of these images (default: of all), so that "
        "the next run tries them again, then stop",
    )

    dirs = parser.add_argument_group("directories (created if missing)")
    add_cache_dir_options(dirs)
    dirs.add_argument(
        "-e",
        "--expired-dir",
        metavar="DIR",
        help="default: $VMCATCHER_CACHE_DIR_EXPIRE, else CACHE/expired",
    )
    dirs.add_argument(
        "--dir-mode",
        type=_mode,
        default=DEFAULT_DIR_MODE,
        metavar="OCTAL",
        help="mode of the directories created (default 0750; the umask applies on top)",
    )
    dirs.add_argument(
        "--file-mode",
        type=_mode,
        default=DEFAULT_FILE_MODE,
        metavar="OCTAL",
        help="mode of the files created (default 0640; the umask applies on top)",
    )
    dirs.add_argument(
        "--allow-file-images",
        action="store_true",
        help="copy file: image URIs even from lists read over http(s) (default: only from lists "
        "read from a file: URL)",
    )
    dirs.add_argument(
        "--expired-max-age",
        type=float,
        metavar="DAYS",
        help="delete expired images older than this (default: keep)",
    )
    dirs.add_argument(
        "--expired-max-size",
        type=_size,
        metavar="SIZE",
        help="delete the oldest expired images beyond this total, e.g. 200G (default: keep)",
    )

    events = parser.add_argument_group("events")
    events.add_argument(
        "-x", "--execute", metavar="CMD", help="event command (default: $VMCATCHER_CACHE_EVENT)"
    )
    events.add_argument(
        "--event-handler",
        action="append",
        default=[],
        metavar="NAME",
        help="in-process event handler (entry point group imagelist.handlers); repeatable",
    )
    events.add_argument(
        "--handler-timeout",
        type=float,
        default=DEFAULT_HANDLER_TIMEOUT,
        metavar="SECONDS",
        help="kill an event handler (its process group) after this long, or give up waiting "
        "for an in-process one (default 1800)",
    )
    events.add_argument(
        "--max-event-attempts",
        type=int,
        default=DEFAULT_MAX_ATTEMPTS,
        metavar="N",
        help=f"an event that failed N times becomes a dead letter (default {DEFAULT_MAX_ATTEMPTS};"
        " 0: never)",
    )
    events.add_argument(
        "--list-dead-letters",
        action="store_true",
        help="print the dead letters (id, event, image, handler, attempts, since, last error)",
    )
    events.add_argument(
        "--requeue-dead-letters",
        nargs="*",
        metavar="ID",
        help="send these dead letters (default: all) again at the next run, then stop",
    )

    run = parser.add_argument_group("downloads")
    run.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel downloads (default: one per image to download, at most 8)",
    )
    run.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run to finish (default: do not wait)",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="say what would be done; change nothing"
    )
    run.add_argument(
        "--no-progress", action="store_true", help="no progress bars, even on a terminal"
    )
    run.add_argument(
        "-c",
        "--cert-dir",
        metavar="DIR",
        help="trust directory whose CAs also verify https servers (default: $VMCATCHER_DIR_CERT, "
        "$X509_CERT_DIR, /etc/grid-security/certificates, if present)",
    )
    add_fetch_limit_options(run, downloads=True)
    run.add_argument(
        "--max-tries",
        type=int,
        default=DEFAULT_MAX_TRIES,
        metavar="N",
        help="runs that may try an image before giving up until the list changes "
        f"(default {DEFAULT_MAX_TRIES}, as 0.6; 0: never give up)",
    )
    add_format_option(run)
    add_monitoring_options(parser.add_argument_group("monitoring"))
    add_database_option(parser)
    add_common_logging(parser)
    return parser
