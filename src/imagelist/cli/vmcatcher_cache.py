"""``vmcatcher_cache``: download the subscribed images, retire the others, tell the handlers.

Options, environment, directory layout, index format and events are vmcatcher 0.6's (reference
§2.6, §2.7); see docs/vmcatcher_cache.md for the walkthrough and what changed on purpose.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ..errors import ImageListError, UsageError
from ..subscriber.settings import database_url, log_config, trust_directory
from ._cache_options import PROG, build_parser
from ._cache_options import _mode as _mode  # tests call it here
from ._cache_options import _size as _size  # tests call it here
from ._cache_output import (
    check_format,
    report_busy,
    report_interrupted,
    report_summary,
    show_progress,
)
from ._common import configure_logging, freeze_at_exit, parse_with_site_config, run_command
from ._fetch_options import download_limits
from ._json import emit_error
from ._monitoring_options import monitoring_for
from ._settings import Settings, settings_of

if (
    TYPE_CHECKING
):  # the cache, SQLAlchemy and requests are imported when a run starts, not for --help
    from ..cache import CacheConfig
    from ..events import EventDispatcher
    from ..fetch import Fetcher

__all__ = ["build_parser", "main"]

_ENV_ACTIONS = {
    "VMCATCHER_CACHE_ACTION_EXPIRE": "expire",
    "VMCATCHER_CACHE_ACTION_CHECK": "check",
    "VMCATCHER_CACHE_ACTION_DOWNLOAD": "download",
}

logger = logging.getLogger("imagelist.cli.vmcatcher_cache")


def _actions(args: argparse.Namespace, environ: Mapping[str, str]) -> frozenset[str]:
    from ..cache import ACTIONS

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
    from ..cache import CacheConfig
    from ..cache.safefs import Modes
    from ..oci.access import RegistryAccess

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
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.max_tries < 0:
        raise UsageError("--max-tries must not be negative")
    limits = download_limits(args)
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
        registry_access=RegistryAccess.from_environment(environ),
    )


def _fetcher_factory(cert_dir: str | None, settings: Settings) -> Fetcher:
    """A Fetcher verifying https with the system CAs plus the trust directory's, if present."""
    from ..fetch import Fetcher

    directory = trust_directory(cert_dir, settings.environ)
    store = None
    if Path(directory).is_dir():
        from ..trust import TrustStore  # only when an image is to be downloaded

        try:
            store = TrustStore.load(directory)
        except ImageListError as exc:
            logger.warning("trust directory %s not used for https: %s", directory, exc)
    elif cert_dir:
        raise UsageError(f"trust directory {cert_dir} does not exist")
    return Fetcher(store, igtf_https=settings.igtf_https())


def _event_command(args: argparse.Namespace) -> str | None:
    """The event command; checked first, so that a typo is one line (exit 78), not N failures."""
    from ..cache.handler_check import check_handler_command

    settings = settings_of(args)
    if args.execute:
        check_handler_command(args.execute, settings.environ, source="-x")
        return str(args.execute)
    command = settings.get("VMCATCHER_CACHE_EVENT")
    if command and command.strip():
        check_handler_command(
            command, settings.environ, source=settings.source("VMCATCHER_CACHE_EVENT")
        )
    return command


def _dispatcher(
    args: argparse.Namespace, config: CacheConfig, url: str, command: str | None
) -> EventDispatcher:
    from ..events import build_dispatcher

    return build_dispatcher(
        command,
        args.event_handler,
        timeout=args.handler_timeout,
        environ=settings_of(args).environ,
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
    from ..cache import CacheLock, CacheRun
    from ..cache.cache import OUTBOX_NAME
    from ..cache.report import dry_run_lines
    from ..db.subscriber import open_database
    from ..events import Outbox
    from ..monitoring.runs import alarm_store, cache_facts, outbox_attempts
    from . import _cache_admin

    settings = settings_of(args)
    configure_logging(args.verbose, args.quiet, log_config(args.log_config, settings.environ))
    check_format(args)
    config = _config(args, settings.environ)
    if args.max_event_attempts < 0:
        raise UsageError("--max-event-attempts must not be negative")
    url = database_url(args.database, settings.environ)
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
        return _cache_admin.status(config, url, bool(args.log_sql_info), settings.db_file_mode())
    command = _event_command(args)
    monitoring = monitoring_for(PROG, args)
    engine = open_database(url, echo=bool(args.log_sql_info), file_mode=settings.db_file_mode())
    dispatcher = _dispatcher(args, config, url, command)
    cancel = threading.Event()
    progress = sys.stderr if show_progress(args) else None
    run = CacheRun(
        config,
        engine,
        dispatcher,
        lambda: _fetcher_factory(args.cert_dir, settings),
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
    monitoring.after_cache(
        engine, alarm_store(trust_directory(args.cert_dir, settings.environ)), facts, code
    )
    engine.dispose()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vmcatcher_cache``; returns the exit code."""
    freeze_at_exit()  # the engine is disposed at the end of _command
    return run_command(PROG, _body, argv)
