"""``imagelist-market resign --due``: the cron job that keeps VO-wide lists fresh (ADR 0020).

Prints one line per re-signed (or failed) VO list and a summary, or with ``-f json`` one
document ``{"ok", "checked", "resigned": [...], "failed": [...]}``. Exit 0 when every due list
was re-signed (or none was due), 88 when one could not be (the others still are), 87 when the
service certificate is unusable, 1 for a bad ``--margin-days``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import MarketPublishError
from ..market.settings import DEFAULT_MARGIN_DAYS, MarketSettings
from ._json import dump_json

__all__ = ["add_resign_parser", "run_resign"]


def add_resign_parser(commands: Any) -> None:
    """The ``resign`` subcommand on the ``imagelist-market`` subparsers."""
    resign = commands.add_parser("resign", help="re-sign VO lists that expire soon (run from cron)")
    resign.add_argument(
        "--due",
        action="store_true",
        required=True,
        help="re-sign every published VO list that expires within the margin",
    )
    resign.add_argument(
        "--margin-days",
        type=int,
        default=DEFAULT_MARGIN_DAYS,
        metavar="N",
        help=f"re-sign lists expiring within N days (default {DEFAULT_MARGIN_DAYS}; "
        "below the list lifetime)",
    )
    resign.add_argument(
        "-f", "--format", choices=("text", "json"), default="text", help="output (default text)"
    )


def run_resign(args: argparse.Namespace, settings: MarketSettings) -> int:
    """Run ``resign --due``; raises MarketPublishError (88) after printing if one failed."""
    from sqlalchemy.orm import sessionmaker

    from ..db.market import open_database
    from ..market.resign import render, report_document, resign_due

    engine = open_database(settings.database_url, file_mode=settings.db_file_mode)
    try:
        report = resign_due(sessionmaker(engine), settings, margin_days=args.margin_days)
    finally:
        engine.dispose()
    if args.format == "json":
        dump_json(report_document(report))
    else:
        for line in render(report):
            print(line)
    if report.failed:
        names = ", ".join(item.vo for item in report.failed)
        raise MarketPublishError(f"{len(report.failed)} VO list(s) not re-signed: {names}")
    return 0
