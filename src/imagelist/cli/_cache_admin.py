"""``vmcatcher_cache``'s administrative commands: dead letters, failed attempts, status.

Each stops after its work; the ones that write take the cache's lock (``--wait`` applies).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..cache import CacheConfig, CacheLock, CacheRun
from ..cache.attempts import reset_tries
from ..cache.cache import OUTBOX_NAME
from ..cache.index import ManagedDirectory
from ..cache.report import status_lines
from ..db.subscriber import open_database
from ..errors import EXIT_IMAGES_FAILED, HandlerError, UsageError
from ..events import EventDispatcher, Outbox
from ..fetch import Fetcher

__all__ = ["dead_letters", "report_dead_letters", "reset", "status"]

logger = logging.getLogger("imagelist.cli.vmcatcher_cache")


def dead_letters(args: argparse.Namespace, config: CacheConfig) -> int:
    """--list-dead-letters and --requeue-dead-letters (under the cache lock)."""
    outbox = Outbox(Path(config.cache_dir) / OUTBOX_NAME)
    if args.list_dead_letters:
        outbox.load()
        for record in outbox.dead:
            error = " ".join(record.last_error.split())
            print(
                f"{record.id}\t{record.type}\t{record.identifier}\t{record.handler}\t"
                f"{record.attempts}\t{record.dead_since}\t{error}"
            )
        return 0
    if not Path(config.cache_dir).is_dir():
        print("0 dead letter(s) re-queued")
        return 0
    lock = CacheLock(Path(config.cache_dir))
    if not lock.acquire(args.wait):
        raise HandlerError(
            f"another run (pid {lock.holder()}) holds the cache {config.cache_dir}; "
            "nothing re-queued"
        )
    try:
        outbox.load()
        moved = outbox.requeue(args.requeue_dead_letters)
    finally:
        lock.release()
    print(f"{len(moved)} dead letter(s) re-queued; they are sent again at the next run")
    return 0


def report_dead_letters(outbox: Outbox) -> int:
    """One line at every run while dead letters wait; their count."""
    if outbox.dead:
        logger.error(
            "%d event(s) are dead letters and are not sent again: list them with "
            "--list-dead-letters, re-queue them with --requeue-dead-letters [ID...]",
            len(outbox.dead),
        )
    return len(outbox.dead)


def reset(args: argparse.Namespace, config: CacheConfig) -> int:
    """``--reset-tries [ID ...]``: under the cache's lock, in the partial index."""
    cache = ManagedDirectory(Path(config.cache_dir), config.cache_dir)
    cache.create()
    partial = ManagedDirectory(Path(config.partial_dir), config.partial_dir)
    lock = CacheLock(cache.path)
    if not lock.acquire(args.wait):
        raise UsageError(f"another run (pid {lock.holder()}) holds the cache {config.cache_dir}")
    try:
        partial.load()
        reset = reset_tries(partial.entries, args.reset_tries)
        if reset:
            partial.save()
    finally:
        lock.release()
    if reset:
        print(f"failed attempts forgotten; the next run downloads: {', '.join(reset)}")
    else:
        print("no image has failed download attempts")
    return 0


def status(config: CacheConfig, url: str, echo: bool, file_mode: int | None = None) -> int:
    """``--status``: one line per wanted image; nothing is written."""
    engine = open_database(url, echo=echo, file_mode=file_mode)
    try:
        run = CacheRun(config, engine, EventDispatcher(), lambda: Fetcher(None))
        lines, given_up = status_lines(run)
    finally:
        engine.dispose()
    for line in lines:
        print(line)
    return EXIT_IMAGES_FAILED if given_up else 0
