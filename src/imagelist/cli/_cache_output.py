"""What a ``vmcatcher_cache`` run prints: the summary line or ``-f json`` (docs/json-output.md),
whether progress bars are drawn, and the line of a run stopped by Ctrl-C / SIGTERM.

Kept out of vmcatcher_cache.py, which is at its size budget.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EXIT_INTERRUPTED, InterruptedRunError, UsageError
from ._json import dump_json, error_document

if TYPE_CHECKING:  # annotations only: --help imports no cache run (SQLAlchemy, requests)
    from ..cache import CacheRun
    from ..cache.progress import Summary

__all__ = [
    "add_format_option",
    "cache_document",
    "check_format",
    "interrupted_line",
    "report_busy",
    "report_interrupted",
    "report_summary",
    "show_progress",
]

#: Exit code of an interrupted run (128 + SIGINT), as run_command returns it.


def add_format_option(group: argparse._ArgumentGroup) -> None:
    """``-f/--format text|json``."""
    group.add_argument(
        "-f",
        "--format",
        choices=["text", "json"],
        default="text",
        help="json: the summary and each image's result (or the error and its exit code) as one "
        "JSON document on stdout instead of the summary line (docs/json-output.md)",
    )


def check_format(args: argparse.Namespace) -> None:
    """``-f json`` describes a cache run: not the dry run or the admin actions."""
    if args.format != "json":
        return
    others = {
        "--dry-run": args.dry_run,
        "--status": args.status,
        "--reset-tries": args.reset_tries is not None,
        "--list-dead-letters": args.list_dead_letters,
        "--requeue-dead-letters": args.requeue_dead_letters is not None,
        "--drop-pending-events": args.drop_pending_events,
    }
    used = [name for name, given in others.items() if given]
    if used:
        raise UsageError(f"-f json is for a cache run, not with {used[0]}")


def cache_document(summary: Summary, exit_code: int, skipped: str | None = None) -> dict[str, Any]:
    """The JSON document of a run; ``skipped`` says why nothing was done (another run's lock)."""
    return {
        "ok": exit_code == 0,
        "exit_code": exit_code,
        "skipped": skipped,
        "summary": {
            "downloaded": summary.downloaded,
            "expired": summary.expired,
            "failed": summary.failed,
            "corrupt": summary.corrupt,
            "given_up": summary.gave_up,
            "pruned": summary.pruned,
            "received_bytes": summary.received,
            "seconds": round(summary.seconds, 3),
            "bytes_per_second": round(summary.rate, 1),
            "events_failed": summary.events_failed,
            "events_pending": summary.events_pending,
            "events_dead": summary.events_dead,
        },
        "images": [
            {"identifier": image.identifier, "result": image.result, "error": image.error}
            for image in summary.images
        ],
    }


def _kept(run: CacheRun) -> list[str]:
    """Images with a partial file on disk, which the next run resumes."""
    kept = []
    for key in sorted(run.partial.entries):
        path = Path(run.partial.path) / key
        if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) > 0:
            kept.append(key)
    return kept


def interrupted_line(prog: str, run: CacheRun) -> str:
    """The one line of an interrupted run: which partial files were kept for the next run."""
    kept = _kept(run)
    if not kept:
        return f"{prog}: interrupted; no partial file to keep"
    return (
        f"{prog}: interrupted; partial file kept: the next run resumes "
        f"({', '.join(kept[:5])}{', …' if len(kept) > 5 else ''})"
    )


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only for a person watching: stdout and stderr both terminals, not -q."""
    if args.no_progress or args.quiet or args.dry_run:
        return False
    return sys.stderr.isatty() and sys.stdout.isatty()


def report_summary(args: argparse.Namespace, summary: Summary, code: int) -> None:
    """The summary line (unless -q and all went well), or the JSON document."""
    if args.format == "json":
        dump_json(cache_document(summary, code))
    elif args.quiet == 0 or code:
        print(summary.line())


def report_busy(prog: str, args: argparse.Namespace, run: CacheRun, busy: str) -> int:
    """Another run holds the cache: one line on stderr (and a JSON document); exit 0."""
    print(f"{prog}: {busy}; nothing done", file=sys.stderr)
    if args.format == "json":
        dump_json(cache_document(run.summary, 0, skipped=busy))
    return 0


def report_interrupted(prog: str, args: argparse.Namespace, run: CacheRun) -> int:
    """Ctrl-C or SIGTERM: say which partial files the next run resumes; exit 130."""
    line = interrupted_line(prog, run)
    print(line, file=sys.stderr)
    if args.format == "json":
        message = line.removeprefix(f"{prog}: ")
        dump_json(error_document(InterruptedRunError(message)))
    return EXIT_INTERRUPTED
