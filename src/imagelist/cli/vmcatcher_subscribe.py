"""``vmcatcher_subscribe``: subscribe to image lists and keep them up to date (``-U``).

Options, environment, output formats and exit codes are vmcatcher 0.6's (reference §2.1, §2.8);
see docs/vmcatcher.md for the walkthrough and for what changed on purpose.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..errors import ImageListError, UsageError
from ..events.defaults import DEFAULT_HANDLER_TIMEOUT
from ..signature_policy import SignaturePolicy
from ..trust.policies import CrlPolicy
from ._common import make_parser, parse_with_site_config, run_command, write_output
from ._fetch_options import add_fetch_limit_options, fetch_limits
from ._monitoring_options import add_monitoring_options, monitoring_for
from ._settings import settings_of
from ._trust_options import add_cert_dir_option, add_crl_option, add_key_policy_option, key_policy
from ._vmcatcher_options import (
    add_common_settings,
    add_output_option,
    open_engine,
    selected_action,
    setup_logging,
)

if TYPE_CHECKING:  # the run-time modules are imported where they run: --help needs none of them
    from sqlalchemy import Engine

    from ..events import EventDispatcher
    from ..trust import TrustStore

__all__ = ["main"]

PROG = "vmcatcher_subscribe"
EPILOG = """\
exit codes: 0 ok; 1 usage, or endorser unknown at subscribe; 10 list retrieval failed (HTTP
status in the message); 11 signature or trust path invalid; 12 hv:dn/hv:ca differ from the
signer, or no CA in the trust directory; 13 signer not an endorser of the subscription; 14 trust
directory unreadable; 15 image id owned by another subscription; 16 same version, other content;
17 lower version (rollback); 18 hv:uri moved (not followed); 31 list id changed, or unsafe image
id; 32 new image refused; 33 created in the future; 34 expired; 36 database error; 37/38 not a
valid image list; 70 internal error. OpenPGP (--signature-policy, ADR 21): 60 the signature of
LIST.json is invalid, 61 made by no certificate of the endorser, 62 the certificate or its
signing key is expired, revoked or not signing-capable, 63 LIST.json differs from the S/MIME
payload, 64 LIST.json or LIST.json.asc cannot be fetched (or no certificate is registered).
Registry sources of the site file ([oci.sources.NAME], trust cosign-key or none; docs/oci.md)
are updated by -U as subscriptions oci-source:NAME: 56-59 registry, reference or manifest, 65
blob digest, 66 no cosign signature, 67 no signature verifies with the key, 68 signature too
old, 78 source no longer in the site file. With -U: the worst result of all subscriptions, that
is 70 if any had an internal error, else 36 if any had a database error, else the last non-zero
code.
"""
_NEWIMAGE_MODES = {"refuse": 0, "accept": 1, "subscribe": 3}
_ANCHORS = {"none": 0, "browser": 1, "igtf": 2}
STDIN = "-"
ACTIONS = (
    "subscribe",
    "update",
    "list",
    "info",
    "delete",
    "image_list",
    "image_accept",
    "image_refuse",
    "newimage",
    "trust_anchor",
    "credentials",
    "reset_trust",
    "migrate_legacy_db",
    "signature_policy_set",
)


def build_parser() -> argparse.ArgumentParser:
    """The command line, with vmcatcher 0.6's option names."""
    parser = make_parser(
        PROG,
        site_config=True,
        description="Subscribe to HEPiX image lists and update them (one action per call).",
        epilog=EPILOG,
    )
    actions = parser.add_argument_group("actions")
    actions.add_argument(
        "-s", "--subscribe", action="append", metavar="URL", help="subscribe to the list at URL"
    )
    actions.add_argument("-U", "--update", action="store_true", help="update subscriptions")
    actions.add_argument("-l", "--list", action="store_true", help="list subscriptions")
    actions.add_argument("-i", "--info", action="store_true", help="show subscriptions")
    actions.add_argument("-D", "--delete", action="store_true", help="delete subscriptions")
    actions.add_argument(
        "--image-list", action="store_true", help="show subscriptions with their images"
    )
    actions.add_argument(
        "--image-accept", action="append", metavar="IMAGE", help="accept an image id (with -u)"
    )
    actions.add_argument(
        "--image-refuse", action="append", metavar="IMAGE", help="refuse an image id (with -u)"
    )
    newimage = actions.add_mutually_exclusive_group()
    for mode in ("accept", "subscribe", "refuse"):
        newimage.add_argument(
            f"--imagelist-newimage-{mode}",
            dest="newimage_mode",
            action="store_const",
            const=mode,
            help=f"new image ids: {mode} them (with -s: at subscribe time; else then update)",
        )
    actions.add_argument(
        "--uri-trustanchor-set",
        choices=sorted(_ANCHORS),
        help="store the trust anchor (kept for compatibility: https is always verified)",
    )
    actions.add_argument("--uri-username-set", metavar="USER", help="set the Basic user name")
    actions.add_argument("--uri-username-clear", action="store_true", help="clear the user name")
    actions.add_argument(
        "--uri-password-set", metavar="PASSWORD", help="set the Basic password (- reads stdin)"
    )
    actions.add_argument("--uri-password-clear", action="store_true", help="clear the password")
    actions.add_argument(
        "--reset-trust",
        action="store_true",
        help="let the next -U accept a lower version once (after confirmation)",
    )
    actions.add_argument(
        "--signature-policy",
        choices=[policy.value for policy in SignaturePolicy],
        help="with -s: the new subscription's; with -u/-r: change it. smime (default): "
        "image.list only; smime+openpgp: also URL.json (byte for byte the S/MIME payload) and "
        "its OpenPGP signature URL.json.asc; openpgp: only URL.json and URL.json.asc",
    )
    actions.add_argument(
        "--migrate-legacy-db",
        metavar="OLD_URL",
        help="copy a vmcatcher 0.6 database into the (new, empty) database of -d",
    )

    select = parser.add_argument_group("selection")
    select.add_argument("-u", "--uuid", action="append", default=[], help="subscription id")
    select.add_argument("-r", "--uri", action="append", default=[], help="subscription URI")
    add_output_option(select)

    options = parser.add_argument_group("settings")
    options.add_argument(
        "-e", "--auto-endorse", action="store_true", help="with -s: register an unknown signer"
    )
    add_cert_dir_option(options)
    options.add_argument(
        "-x", "--execute", metavar="CMD", help="event command (default: $VMCATCHER_SUB_EVENT)"
    )
    options.add_argument(
        "--event-handler",
        action="append",
        default=[],
        metavar="NAME",
        help="in-process event handler (entry point group imagelist.handlers)",
    )
    options.add_argument(
        "--handler-timeout",
        type=float,
        default=DEFAULT_HANDLER_TIMEOUT,
        metavar="SECONDS",
        help="kill an event handler after this long (default 1800)",
    )
    options.add_argument(
        "--dry-run", action="store_true", help="with -U: show what would change, write nothing"
    )
    options.add_argument(
        "--follow-uri",
        action="store_true",
        help="-U: follow a list whose hv:uri moved; -s: fetch from the list's hv:uri",
    )
    options.add_argument(
        "--allow-same-version",
        action="store_true",
        help="-U: accept a list with the same version but other content (0.6 behaviour)",
    )
    options.add_argument("--yes", action="store_true", help="confirm --reset-trust without asking")
    add_crl_option(
        options, help="require a current CRL for each CA (default), or check CRLs if present"
    )
    add_key_policy_option(options)
    add_monitoring_options(options)
    add_fetch_limit_options(options, downloads=False)
    add_common_settings(parser, options)
    return parser


def _require_selection(args: argparse.Namespace) -> None:
    if not args.uuid and not args.uri:
        raise UsageError("select subscriptions with -u/--uuid or -r/--uri")


def _selected(engine: Engine, args: argparse.Namespace, *, required: bool) -> list[str]:
    """Identifiers of the -u/-r selections; all subscriptions if none and not required."""
    from ..db.engine import reader
    from ..subscriber import subscriptions as subs

    if required:
        _require_selection(args)
    if not args.uuid and not args.uri:
        return [record.identifier for record in subs.list_subscriptions(engine)]
    with reader(engine) as session:
        return [s.identifier for s in subs.resolve(session, args.uuid, args.uri)]


def _dispatcher(args: argparse.Namespace) -> EventDispatcher:
    from ..events import build_dispatcher
    from ..subscriber.settings import event_command

    return build_dispatcher(
        event_command(args.execute, settings_of(args).environ),
        args.event_handler,
        timeout=args.handler_timeout,
        environ=settings_of(args).environ,
    )


def _update(
    args: argparse.Namespace, fmt: str, engine: Engine, store: TrustStore, names: list[str] | None
) -> int:
    from ..fetch import Fetcher
    from ..monitoring.runs import update_failures
    from ..subscriber.decide import Policy
    from ..subscriber.oci_sources import ensure_source_subscriptions, subscribed_sources
    from ..subscriber.render import render_update
    from ..subscriber.update import Updater, exit_code

    monitoring = monitoring_for(PROG, args)
    sources = subscribed_sources(settings_of(args).site.oci_sources)
    if sources and not args.dry_run:
        ensure_source_subscriptions(engine, sources)
    with Fetcher(
        store, limits=fetch_limits(args), igtf_https=settings_of(args).igtf_https()
    ) as fetcher:
        updater = Updater(
            engine,
            store,
            fetcher=fetcher,
            dispatcher=None if args.dry_run else _dispatcher(args),
            policy=Policy(allow_same_version=args.allow_same_version, follow_uri=args.follow_uri),
            crl_policy=CrlPolicy(args.crl),
            dry_run=args.dry_run,
            key_policy=key_policy(args),
            oci_sources={source.name: source for source in sources},
        )
        results = updater.run(names)
    output = render_update(results, fmt, quiet=args.quiet > 0, dry_run=args.dry_run)
    if output:
        write_output(None, output)
    code = exit_code(results)
    if not args.dry_run:
        monitoring.after_update(engine, store, update_failures(results), code)
    return code


def _subscribe(args: argparse.Namespace, engine: Engine, store: TrustStore) -> int:
    from ..fetch import Fetcher
    from ..subscriber import subscriptions as subs
    from ..subscriber.update import RunVerifier
    from ..urls import redact_url_safe

    mode = _NEWIMAGE_MODES.get(args.newimage_mode or "refuse", 0)
    code = 0
    now = datetime.now(UTC)
    verifier = RunVerifier(store, crl_policy=CrlPolicy(args.crl), key_policy=key_policy(args))
    with Fetcher(
        store, limits=fetch_limits(args), igtf_https=settings_of(args).igtf_https()
    ) as fetcher:
        for url in args.subscribe:
            try:
                result = subs.subscribe(
                    engine,
                    verifier,
                    fetcher,
                    url,
                    auto_endorse=args.auto_endorse,
                    update_mode=mode,
                    subscribe_images=args.newimage_mode == "subscribe",
                    follow_uri=args.follow_uri,
                    now=now,
                    signature_policy=SignaturePolicy(args.signature_policy or "smime"),
                )
            except ImageListError as exc:
                shown = redact_url_safe(url)
                print(f"{PROG}: error: failed to subscribe to {shown}: {exc}", file=sys.stderr)
                code = exc.exit_code
                continue
            if args.quiet == 0:
                write_output(None, result.line() + "\n")
    return code


def _info(args: argparse.Namespace, fmt: str, engine: Engine, *, images: bool) -> int:
    from ..companions import is_openpgp_only
    from ..db.engine import reader
    from ..subscriber import subscriptions as subs
    from ..subscriber.render import render_subscription_info
    from ..subscriber.settings import load_trust_store, pair_outputs, trust_directory
    from ..subscriber.update import RunVerifier

    names = _selected(engine, args, required=False)
    store = None
    if fmt == "message":
        store = load_trust_store(trust_directory(args.cert_dir, settings_of(args).environ))
    with reader(engine) as session:
        for name, path in pair_outputs(names, args.output):
            (subscription,) = subs.resolve(session, [name])
            details = subs.subscription_details(session, subscription)
            if fmt in ("lines", "json"):
                write_output(path, render_subscription_info(details, fmt, images=images))
                continue
            if details.latest is None:
                print(f"{PROG}: warning: no list imported yet for {name}", file=sys.stderr)
                continue
            data = details.latest.data
            if store is not None and not is_openpgp_only(data):  # openpgp: the .json as is
                checker = RunVerifier(
                    store, crl_policy=CrlPolicy(args.crl), key_policy=key_policy(args)
                )
                data = checker.verify(data).payload
            write_output(path, data)
    return 0


def _confirm(names: list[str], assume_yes: bool) -> None:
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("--reset-trust needs confirmation: run it on a terminal or add --yes")
    for name in names:
        print(
            f"Reset trust for subscription {name}: the next -U accepts a lower version once.\n"
            f"Type the subscription id to confirm: ",
            end="",
            flush=True,
        )
        if sys.stdin.readline().strip() != name:
            raise UsageError("not confirmed; nothing changed")


def _body(argv: Sequence[str]) -> int:
    args = parse_with_site_config(build_parser(), argv)
    from ..db.subscriber import open_database
    from ..db.subscriber.legacy import migrate_legacy
    from ..subscriber import subscriptions as subs
    from ..subscriber.openpgp_certs import set_signature_policy
    from ..subscriber.render import render_subscriptions
    from ..subscriber.settings import database_url, load_trust_store, trust_directory

    args.newimage = args.newimage_mode is not None and not args.subscribe
    args.trust_anchor = args.uri_trustanchor_set is not None
    args.signature_policy_set = args.signature_policy is not None and not args.subscribe
    args.credentials = any(
        (
            args.uri_username_set is not None,
            args.uri_username_clear,
            args.uri_password_set is not None,
            args.uri_password_clear,
        )
    )
    fmt = setup_logging(args)
    action = selected_action(args, ACTIONS)

    if action == "migrate_legacy_db":
        settings = settings_of(args)
        target = open_database(
            database_url(args.database, settings.environ),
            echo=args.log_sql_info,
            file_mode=settings.db_file_mode(),
        )
        report = migrate_legacy(args.migrate_legacy_db, target)
        write_output(None, report.summary() + "\n")
        return 0
    engine = open_engine(args)
    if action == "list":
        write_output(None, render_subscriptions(subs.list_subscriptions(engine), fmt))
        return 0
    if action in ("info", "image_list"):
        return _info(args, fmt, engine, images=action == "image_list")
    if action == "delete":
        _require_selection(args)
        for name in subs.delete_subscriptions(engine, args.uuid, args.uri):
            print(f"{PROG}: deleted subscription {name}", file=sys.stderr)
        return 0
    if action in ("image_accept", "image_refuse"):
        images = args.image_accept if action == "image_accept" else args.image_refuse
        change = subs.accept_images if action == "image_accept" else subs.refuse_images
        change(engine, args.uuid, images)
        return 0
    if action == "trust_anchor":
        _require_selection(args)
        subs.set_trust_anchor(engine, args.uuid, args.uri, _ANCHORS[args.uri_trustanchor_set])
        return 0
    if action == "credentials":
        _require_selection(args)
        password: object = subs.KEEP
        if args.uri_password_clear:
            password = None
        elif args.uri_password_set is not None:
            password = args.uri_password_set
            if args.uri_password_set == STDIN:
                password = sys.stdin.readline().rstrip("\r\n")
        username: object = subs.KEEP
        if args.uri_username_clear:
            username = None
        elif args.uri_username_set is not None:
            username = args.uri_username_set
        subs.set_credentials(engine, args.uuid, args.uri, username=username, password=password)
        return 0
    if action == "signature_policy_set":
        policy = SignaturePolicy(args.signature_policy)
        for name in _selected(engine, args, required=True):
            set_signature_policy(engine, name, policy)
            print(f"{PROG}: {name}: signature policy {policy}", file=sys.stderr)
        return 0
    if action == "reset_trust":
        names = _selected(engine, args, required=True)
        _confirm(names, args.yes)
        for name in subs.reset_trust(engine, args.uuid, args.uri):
            print(
                f"{PROG}: trust reset for {name}: the next -U accepts a lower version once",
                file=sys.stderr,
            )
        return 0

    store = load_trust_store(trust_directory(args.cert_dir, settings_of(args).environ))
    if action == "subscribe":
        return _subscribe(args, engine, store)
    if action == "newimage":
        _require_selection(args)
        names = subs.set_update_mode(
            engine, args.uuid, args.uri, _NEWIMAGE_MODES[args.newimage_mode]
        )
        return _update(args, fmt, engine, store, names)
    selection = _selected(engine, args, required=False) if (args.uuid or args.uri) else None
    return _update(args, fmt, engine, store, selection)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vmcatcher_subscribe``."""
    return run_command(PROG, _body, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
