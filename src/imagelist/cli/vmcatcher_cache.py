"""``vmcatcher_cache``: download the subscribed images, retire the others, tell the handlers.

Options, environment, directory layout, index format and events are vmcatcher 0.6's (reference
§2.6, §2.7); see docs/vmcatcher_cache.md for the walkthrough and what changed on purpose.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from ..cache import ACTIONS, CacheConfig, CacheLock, CacheRun, DownloadLimits
from ..cache.cache import OUTBOX_NAME
from ..cache.handler_check import check_handler_command
from ..cache.report import dry_run_lines
from ..cache.safefs import DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, Modes
from ..db.subscriber import open_database
from ..errors import ImageListError, UsageError
from ..events import (
    DEFAULT_HANDLER_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    EventDispatcher,
    Outbox,
    build_dispatcher,
)
from ..fetch import Fetcher
from ..monitoring.runs import alarm_store, cache_facts, outbox_attempts
from ..site_config import setting_source
from ..subscriber.settings import database_url, log_config, trust_directory
from . import _cache_admin
from ._cache_output import (
    add_format_option,
    check_format,
    report_busy,
    report_interrupted,
    report_summary,
    show_progress,
)
from ._common import configure_logging, make_parser, parse_with_site_config, run_command
from ._json import emit_error
from ._monitoring_options import add_monitoring_options, monitoring_for
from ._vmcatcher_options import add_common_logging, add_database_option

__all__ = ["build_parser", "main"]

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
_ENV_ACTIONS = {
    "VMCATCHER_CACHE_ACTION_EXPIRE": "expire",
    "VMCATCHER_CACHE_ACTION_CHECK": "check",
    "VMCATCHER_CACHE_ACTION_DOWNLOAD": "download",
}

logger = logging.getLogger("imagelist.cli.vmcatcher_cache")


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
    dirs.add_argument(
        "-C", "--cache-dir", metavar="DIR", help="default: $VMCATCHER_CACHE_DIR_CACHE, else cache"
    )
    dirs.add_argument(
        "-p",
        "--partial-dir",
        metavar="DIR",
        help="default: $VMCATCHER_CACHE_DIR_DOWNLOAD, else CACHE/partial",
    )
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
    limits = DownloadLimits()
    run.add_argument(
        "-j", "--jobs", type=int, default=4, metavar="N", help="parallel downloads (default 4)"
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
    run.add_argument(
        "--connect-timeout", type=float, default=limits.connect_timeout, metavar="SECONDS"
    )
    run.add_argument(
        "--read-timeout",
        type=float,
        default=limits.read_timeout,
        metavar="SECONDS",
        help="longest silence of a server (default 60)",
    )
    run.add_argument(
        "--speed-limit",
        type=int,
        default=limits.speed_limit,
        metavar="BYTES",
        help="a download slower than this many bytes/s for --speed-time has stalled (default 1024)",
    )
    run.add_argument("--speed-time", type=float, default=limits.speed_time, metavar="SECONDS")
    run.add_argument(
        "--retries",
        type=int,
        default=limits.retries,
        metavar="N",
        help="retries of a download within a run, resuming (default 3)",
    )
    run.add_argument(
        "--max-tries",
        type=int,
        default=5,
        metavar="N",
        help="runs that may try an image before giving up until the list changes "
        "(default 5, as 0.6; 0: never give up)",
    )
    add_format_option(run)
    add_monitoring_options(parser.add_argument_group("monitoring"))
    add_database_option(parser)
    add_common_logging(parser)
    return parser


def _actions(args: argparse.Namespace, environ: Mapping[str, str]) -> frozenset[str]:
    chosen = {name for var, name in _ENV_ACTIONS.items() if environ.get(var) == "1"}
    chosen |= {
        name
        for name, flag in zip(ACTIONS, (args.expire, args.sha512, args.download), strict=True)
        if flag
    }
    if not chosen:
        chosen = {"expire", "download"}
    if "download" in chosen:
        chosen.add("expire")
    return frozenset(chosen)


def _config(args: argparse.Namespace, environ: Mapping[str, str]) -> CacheConfig:
    cache_dir = args.cache_dir or environ.get("VMCATCHER_CACHE_DIR_CACHE") or "cache"
    partial_dir = (
        args.partial_dir
        or environ.get("VMCATCHER_CACHE_DIR_DOWNLOAD")
        or os.path.join(cache_dir, "partial")
    )
    expired_dir = (
        args.expired_dir
        or environ.get("VMCATCHER_CACHE_DIR_EXPIRE")
        or os.path.join(cache_dir, "expired")
    )
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.max_tries < 0:
        raise UsageError("--max-tries must not be negative")
    try:
        limits = DownloadLimits(
            connect_timeout=args.connect_timeout,
            read_timeout=args.read_timeout,
            speed_limit=args.speed_limit,
            speed_time=args.speed_time,
            retries=args.retries,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    max_age = args.expired_max_age
    if max_age is not None and max_age < 0:
        raise UsageError("--expired-max-age must not be negative")
    return CacheConfig(
        cache_dir=cache_dir,
        partial_dir=partial_dir,
        expired_dir=expired_dir,
        actions=_actions(args, environ),
        jobs=args.jobs,
        max_tries=args.max_tries,
        dry_run=args.dry_run,
        expired_max_age=None if max_age is None else max_age * 86400,
        expired_max_size=args.expired_max_size,
        limits=limits,
        allow_file_images=args.allow_file_images,
        modes=Modes(directory=args.dir_mode, file=args.file_mode),
    )


def _fetcher_factory(cert_dir: str | None) -> Fetcher:
    """A Fetcher verifying https with the system CAs plus the trust directory's, if present."""
    directory = trust_directory(cert_dir)
    store = None
    if Path(directory).is_dir():
        from ..trust import TrustStore  # only when an image is to be downloaded

        try:
            store = TrustStore.load(directory)
        except ImageListError as exc:
            logger.warning("trust directory %s not used for https: %s", directory, exc)
    elif cert_dir:
        raise UsageError(f"trust directory {cert_dir} does not exist")
    return Fetcher(store)


def _event_command(args: argparse.Namespace) -> str | None:
    """The event command; checked first, so that a typo is one line (exit 78), not N failures."""
    if args.execute:
        check_handler_command(args.execute, source="-x")
        return str(args.execute)
    command = os.environ.get("VMCATCHER_CACHE_EVENT") or None
    if command and command.strip():
        check_handler_command(command, source=setting_source("VMCATCHER_CACHE_EVENT"))
    return command


def _dispatcher(
    args: argparse.Namespace, config: CacheConfig, url: str, command: str | None
) -> EventDispatcher:
    return build_dispatcher(
        command,
        args.event_handler,
        timeout=args.handler_timeout,
        extra={
            "VMCATCHER_CACHE_DIR_CACHE": config.cache_dir,
            "VMCATCHER_CACHE_DIR_DOWNLOAD": config.partial_dir,
            "VMCATCHER_CACHE_DIR_EXPIRE": config.expired_dir,
            "VMCATCHER_RDBMS": url,
        },
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _body(argv: Sequence[str]) -> int:
    args = parse_with_site_config(build_parser(), argv)
    try:
        return _command(args)
    except Exception as exc:  # run_command makes it one line and the exit code
        if args.format == "json":
            emit_error(exc)
        raise


def _command(args: argparse.Namespace) -> int:
    configure_logging(args.verbose, args.quiet, log_config(args.log_config))
    check_format(args)
    config = _config(args, os.environ)
    if args.max_event_attempts < 0:
        raise UsageError("--max-event-attempts must not be negative")
    url = database_url(args.database)
    if args.drop_pending_events:
        outbox = Outbox(Path(config.cache_dir) / OUTBOX_NAME)
        outbox.load()
        print(f"{outbox.drop()} pending event(s) dropped")
        return 0
    if args.list_dead_letters or args.requeue_dead_letters is not None:
        return _cache_admin.dead_letters(args, config)
    if args.reset_tries is not None:
        return _cache_admin.reset(args, config)
    if args.status:
        return _cache_admin.status(config, url, bool(args.log_sql_info))
    command = _event_command(args)
    monitoring = monitoring_for(PROG, args)
    engine = open_database(url, echo=bool(args.log_sql_info))
    dispatcher = _dispatcher(args, config, url, command)
    cancel = threading.Event()
    progress = sys.stderr if show_progress(args) else None
    run = CacheRun(
        config,
        engine,
        dispatcher,
        lambda: _fetcher_factory(args.cert_dir),
        progress=progress,
        cancel=cancel,
    )
    run.outbox.max_attempts = args.max_event_attempts
    try:
        if config.dry_run:
            for line in dry_run_lines(run):
                print(line)
            return 0
        run.cache.create()
        lock = CacheLock(run.cache.path)
        if not lock.acquire(args.wait):
            busy = f"another run (pid {lock.holder()}) holds the cache {config.cache_dir}"
            return report_busy(PROG, args, run, busy)
        previous = signal.signal(signal.SIGTERM, _terminate)
        before = outbox_attempts(run.outbox.path)
        try:
            summary = run.run()
        except KeyboardInterrupt:
            return report_interrupted(PROG, args, run)
        finally:
            cancel.set()
            signal.signal(signal.SIGTERM, previous)
            lock.release()
    finally:
        engine.dispose()
    summary.events_dead = _cache_admin.report_dead_letters(run.outbox)
    code = summary.exit_code
    report_summary(args, summary, code)
    facts = cache_facts(config, summary, before, run.outbox)
    monitoring.after_cache(engine, alarm_store(trust_directory(args.cert_dir)), facts, code)
    engine.dispose()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vmcatcher_cache``; returns the exit code."""
    return run_command(PROG, _body, argv)
