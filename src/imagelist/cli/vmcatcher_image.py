"""``vmcatcher_image``: list images, show them, and choose which ones the cache keeps.

The state of ``-l`` is a bitmap: 1 = subscribed (``-a``), 2 = available (in the subscription's
latest, unexpired list). ``vmcatcher_cache`` downloads images in state 3 and retires the rest.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import UsageError
from ._common import make_parser, parse_with_site_config, run_command, write_output
from ._settings import settings_of
from ._trust_options import add_cert_dir_option
from ._vmcatcher_options import (
    add_common_settings,
    add_output_option,
    open_engine,
    selected_action,
    setup_logging,
)

__all__ = ["main"]

PROG = "vmcatcher_image"
EPILOG = """\
exit codes: 0 ok; 1 usage or an unknown image; 11 (-i -f message) the stored list no longer
verifies; 36 database error.
"""
ACTIONS = ("list", "info", "add", "remove")


def build_parser() -> argparse.ArgumentParser:
    """The command line, with vmcatcher 0.6's option names."""
    parser = make_parser(
        PROG,
        site_config=True,
        description="List images of the subscribed image lists and select them for the cache.",
        epilog=EPILOG,
    )
    actions = parser.add_argument_group("actions")
    actions.add_argument("-l", "--list", action="store_true", help="list images and states")
    actions.add_argument(
        "--long",
        action="store_true",
        help="with -l -f lines: add <version>\\t<title> columns (JSON always has them)",
    )
    actions.add_argument("-i", "--info", action="store_true", help="show the selected images")
    actions.add_argument(
        "-a", "--add", action="store_true", help="subscribe the selected images (cache them)"
    )
    actions.add_argument(
        "-r", "--remove", action="store_true", help="unsubscribe the selected images"
    )
    select = parser.add_argument_group("selection")
    select.add_argument("-u", "--uuid", action="append", default=[], help="image id")
    select.add_argument("-s", "--sha512", action="append", default=[], help="image sha512")
    add_output_option(select)
    options = parser.add_argument_group("settings")
    add_cert_dir_option(options, purpose=" for -f message")
    add_common_settings(parser, options)
    return parser


def _body(argv: Sequence[str]) -> int:
    args = parse_with_site_config(build_parser(), argv)
    from ..companions import is_openpgp_only
    from ..db.engine import reader
    from ..subscriber.images import image_details, image_states, select_images, set_cache
    from ..subscriber.render import render_image_info, render_image_states
    from ..subscriber.settings import load_trust_store, pair_outputs, trust_directory
    from ..subscriber.update import RunVerifier

    fmt = setup_logging(args)
    action = selected_action(args, ACTIONS)
    engine = open_engine(args)
    if action == "list":
        with reader(engine) as session:
            write_output(None, render_image_states(image_states(session), fmt, long=args.long))
        return 0
    if not args.uuid and not args.sha512:
        raise UsageError("select images with -u/--uuid or -s/--sha512")
    if action in ("add", "remove"):
        set_cache(engine, args.uuid, args.sha512, 1 if action == "add" else 0)
        return 0
    verifier = None
    if fmt == "message":
        verifier = RunVerifier(
            load_trust_store(trust_directory(args.cert_dir, settings_of(args).environ))
        )
    selections = [*args.uuid, *args.sha512]
    with reader(engine) as session:
        for selection, path in pair_outputs(selections, args.output):
            uuids = [selection] if selection in args.uuid else []
            sha512s = [] if uuids else [selection]
            for definition in select_images(session, uuids, sha512s):
                details = image_details(session, definition)
                if fmt in ("lines", "json"):
                    write_output(path, render_image_info(details, fmt))
                elif details.latest is None:
                    print(
                        f"{PROG}: warning: image {details.identifier} is in no current list",
                        file=sys.stderr,
                    )
                elif verifier is not None and not is_openpgp_only(details.latest.data):
                    write_output(path, verifier.verify(details.latest.data).payload)
                else:
                    write_output(path, details.latest.data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vmcatcher_image``."""
    return run_command(PROG, _body, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
