"""``imagelist-market notify``: the cron job that mails what is due, each mail once (ADR 0025).

Prints one line per mail sent (``sent KIND to ADDRESS: SUBJECT``) and a summary, or with
``-f json`` one document ``{"ok", "sent": [...], "skipped", "failed": [...], "no_address"}``.
``--dry-run`` lists what would be sent and records nothing. Exit 0 when every due mail went
out (or none was due), 80 when the SMTP server could not be reached or refused a mail (those
are tried again by the next run), 87 for unusable settings, 36 for the database.
"""

from __future__ import annotations

import argparse
import smtplib
from typing import TYPE_CHECKING, Any

from ..errors import MarketNotifyError
from ._json import dump_json
from ._settings import settings_of

if TYPE_CHECKING:  # the web application (FastAPI) and SQLAlchemy are imported when it runs
    from ..market.settings import MarketSettings
    from ..market.web.notify import NotifyReport

__all__ = ["add_notify_parser", "run_notify"]


def add_notify_parser(commands: Any) -> None:
    """The ``notify`` subcommand on the ``imagelist-market`` subparsers."""
    notify = commands.add_parser(
        "notify", help="mail expiry warnings and VO list notices that are due (run from cron)"
    )
    notify.add_argument(
        "--dry-run", action="store_true", help="show what would be sent; send and record nothing"
    )
    notify.add_argument(
        "-f", "--format", choices=("text", "json"), default="text", help="output (default text)"
    )


def _document(report: NotifyReport, dry_run: bool) -> dict[str, Any]:
    def item(note: Any) -> dict[str, Any]:
        return {"kind": note.kind, "about": note.subject, "to": note.address, "subject": note.title}

    return {
        "ok": not report.failed,
        "dry_run": dry_run,
        "sent": [item(n) for n in report.sent],
        "skipped": report.skipped,
        "failed": [{**item(n), "error": error} for n, error in report.failed],
        "no_address": report.no_address,
    }


def run_notify(args: argparse.Namespace, settings: MarketSettings) -> int:
    """Run ``notify``; raises MarketNotifyError (80) after printing if a mail failed."""
    from sqlalchemy.orm import sessionmaker

    from ..db.market import open_database
    from ..market.web.notify import send_due
    from ..market.web.settings import WebSettings

    web_settings = WebSettings.from_env(settings.data_dir, settings_of(args).environ)
    engine = open_database(settings.database_url, file_mode=settings.db_file_mode)
    try:
        report = send_due(sessionmaker(engine), settings, web_settings, dry_run=args.dry_run)
    except (OSError, smtplib.SMTPException) as exc:
        where = f"{web_settings.smtp_host}:{web_settings.smtp_port}"
        reason = " ".join((str(exc) or type(exc).__name__).split())
        raise MarketNotifyError(f"cannot send mail through {where}: {reason}") from None
    finally:
        engine.dispose()
    if args.format == "json":
        dump_json(_document(report, args.dry_run))
    else:
        verb = "would send" if args.dry_run else "sent"
        for note in report.sent:
            print(f"{verb} {note.kind} to {note.address}: {note.title}")
        for note, error in report.failed:
            print(f"FAILED {note.kind} to {note.address}: {error}")
        print(
            f"{len(report.sent)} {verb}, {report.skipped} sent before, "
            f"{len(report.failed)} failed, {report.no_address} without a mail address"
        )
    if report.failed:
        raise MarketNotifyError(f"{len(report.failed)} notification mail(s) not sent")
    return 0
