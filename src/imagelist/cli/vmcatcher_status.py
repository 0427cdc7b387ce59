"""``vmcatcher_status`` (also ``imagelist status``): the state of a subscriber site.

Per subscription its list, last update and expiry; per signer its certificate's expiry; per CA
of the path its CRL's next update; per image its state; events pending or dead-lettered. A text
table by default, ``-f json`` for scripts, ``--check`` for Nagios/Icinga (see docs/monitoring in
the README).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache.attempts import DEFAULT_MAX_TRIES
from ..errors import ImageListError, UsageError
from ..monitoring.alarms import Level, alarms, check_line, worst
from ..subscriber.settings import database_url, log_config, trust_directory
from ._cache_options import add_cache_dir_options
from ._common import configure_logging, make_parser, parse_with_site_config, run_command
from ._monitoring_options import add_threshold_options, thresholds
from ._settings import settings_of
from ._trust_options import add_cert_dir_option
from ._vmcatcher_options import add_common_logging, add_database_option

if TYPE_CHECKING:  # the database and status modules are imported when a report runs, not for --help
    from ..trust import TrustStore

__all__ = ["build_parser", "main"]

PROG = "vmcatcher_status"
EPILOG = """\
exit codes: without --check: 0 status shown; 1 usage; 36 database error; 70 internal error.
With --check (Nagios/Icinga plugin): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (database or cache
unreadable), with one summary line on standard output; usage errors still exit 1.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = make_parser(
        PROG,
        site_config=True,
        description="Show subscriptions, certificates, CRLs, images and events of a site.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "-f", "--format", choices=("text", "json"), default="text", help="output (default text)"
    )
    parser.add_argument("--check", action="store_true", help="one Nagios/Icinga line; exit 0/1/2/3")
    add_cert_dir_option(parser)
    add_cache_dir_options(parser)
    parser.add_argument(
        "--max-tries",
        type=int,
        default=DEFAULT_MAX_TRIES,
        metavar="N",
        help="failed downloads after which vmcatcher_cache gives an image up "
        f"(default {DEFAULT_MAX_TRIES})",
    )
    add_threshold_options(parser)
    add_database_option(parser)
    add_common_logging(parser)
    return parser


def _store(
    cert_dir: str | None, environ: Mapping[str, str]
) -> tuple[TrustStore | None, str | None]:
    directory = trust_directory(cert_dir, environ)
    if not Path(directory).is_dir():
        return None, f"trust directory {directory} does not exist"
    try:
        from ..trust import TrustStore

        return TrustStore.load(directory), None
    except ImageListError as exc:
        return None, str(exc)


def _report(args: argparse.Namespace) -> tuple[str, Level]:
    from ..db.subscriber import open_database
    from ..monitoring.render import render_json, render_text
    from ..monitoring.status import gather, list_hashes, read_cache

    limits = thresholds(args)
    environ = settings_of(args).environ
    engine = open_database(
        database_url(args.database, environ),
        echo=bool(args.log_sql_info),
        file_mode=settings_of(args).db_file_mode(),
    )
    try:
        cache_dir = args.cache_dir or environ.get("VMCATCHER_CACHE_DIR_CACHE") or "cache"
        partial_dir = args.partial_dir or environ.get("VMCATCHER_CACHE_DIR_DOWNLOAD")
        cache = read_cache(
            cache_dir, partial_dir, max_tries=args.max_tries, list_hashes=list_hashes(engine)
        )
        store, problem = _store(args.cert_dir, environ)
        status = gather(
            engine, now=datetime.now(UTC), store=store, cache=cache, trust_problem=problem
        )
    finally:
        engine.dispose()
    found = alarms(status, limits)
    if args.check:
        level, line = check_line(status, found)
        return line + "\n", level
    level = worst(found)
    if args.format == "json":
        return render_json(status, found, limits, level.name), Level.OK
    return render_text(status, found), Level.OK


def _body(argv: Sequence[str]) -> int:
    args = parse_with_site_config(build_parser(), argv)
    environ = settings_of(args).environ
    configure_logging(args.verbose, args.quiet, log_config(args.log_config, environ))
    if args.max_tries < 0:
        raise UsageError("--max-tries must not be negative")
    if not args.check:
        text, _ = _report(args)
        sys.stdout.write(text)
        return 0
    thresholds(args)  # a usage error stays exit 1
    try:
        text, level = _report(args)
    except ImageListError as exc:
        print(f"IMAGELIST UNKNOWN - {' '.join(str(exc).split())}")
        return int(Level.UNKNOWN)
    sys.stdout.write(text)
    return int(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vmcatcher_status``."""
    return run_command(PROG, _body, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
