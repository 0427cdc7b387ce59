"""``vmcatcher_endorser``: register the people whose signatures a subscription accepts.

    vmcatcher_endorser --create --endorser_uuid='Alvaro Simon' \\
        --subject='/DC=es/DC=irisgrid/O=cesga/CN=alvarosimon' \\
        --issuer='/DC=es/DC=irisgrid/CN=IRISGridCA'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from ._common import make_parser, parse_with_site_config, run_command, write_output
from ._vmcatcher_options import (
    add_common_settings,
    open_engine,
    selected_action,
    setup_logging,
)

__all__ = ["main"]

PROG = "vmcatcher_endorser"
EPILOG = """\
DNs are stored in the OpenSSL 3 one-line form that 'openssl x509 -noout -subject -nameopt
compat' prints (/DC=es/O=cesga/CN=name, '\\/' and '\\+' for '/' and '+' inside values); a DN
given in the RFC 4514 comma form (CN=name,O=cesga,DC=es) is converted and the stored form
printed.

--openpgp-cert FILE (with --create, repeatable) stores the OpenPGP certificates in FILE for
the endorser; --dn/--issuer are then optional (an endorser outside the IGTF). Registering a
certificate again replaces the stored copy (a new expiry or a revocation).

exit codes: 0 ok; 1 usage (also a DN that is not one), or an unknown endorser or subscription;
12 the DN (or OpenPGP certificate) is already registered to another endorser or issuer;
36 database error; 64 an OpenPGP certificate file that cannot be read or holds no certificate.
"""
ACTIONS = ("list", "links", "create", "delete", "link", "unlink", "info")


def build_parser() -> argparse.ArgumentParser:
    """The command line, with vmcatcher 0.6's option names."""
    parser = make_parser(
        PROG,
        site_config=True,
        description="Manage the endorsers trusted to sign subscribed image lists.",
        epilog=EPILOG,
    )
    actions = parser.add_argument_group("actions")
    actions.add_argument("-l", "--list", action="store_true", help="list endorsers")
    actions.add_argument(
        "-K", "--links", action="store_true", help="list endorser-subscription links"
    )
    actions.add_argument("-C", "--create", action="store_true", help="create an endorser")
    actions.add_argument("-D", "--delete", action="store_true", help="delete endorsers")
    actions.add_argument("-k", "--link", action="store_true", help="link to a subscription")
    actions.add_argument("-u", "--unlink", action="store_true", help="unlink from a subscription")
    actions.add_argument("-i", "--info", action="store_true", help="show endorsers")
    options = parser.add_argument_group("settings")
    options.add_argument(
        "-e", "--endorser_uuid", action="append", default=[], metavar="ID", help="endorser id"
    )
    options.add_argument(
        "--dn", action="append", default=[], metavar="DN", help="certificate subject (one-line)"
    )
    options.add_argument(
        "-S",
        "--subject",
        action="append",
        default=[],
        metavar="DN",
        help="deprecated spelling of --dn",
    )
    options.add_argument(
        "-I", "--issuer", action="append", default=[], metavar="DN", help="certificate issuer"
    )
    options.add_argument(
        "-s",
        "--subscription_uuid",
        action="append",
        default=[],
        metavar="ID",
        help="subscription id (for --link/--unlink)",
    )
    options.add_argument(
        "--openpgp-cert",
        action="append",
        default=[],
        metavar="FILE",
        help="with --create: an OpenPGP certificate file of the endorser (repeatable; ADR 21)",
    )
    add_common_settings(parser, options)
    return parser


def _one(values: Sequence[str], what: str) -> str:
    if len(values) != 1:
        raise UsageError(f"give exactly one {what}")
    return values[0]


def _body(argv: Sequence[str]) -> int:
    args = parse_with_site_config(build_parser(), argv)
    from ..openpgp import read_certificates
    from ..subscriber import endorsers
    from ..subscriber.render import render_endorser_info, render_endorsers, render_links
    from ..trust.typed_dn import normalise_typed_dn

    fmt = setup_logging(args)
    action = selected_action(args, ACTIONS)
    if args.openpgp_cert and action != "create":
        raise UsageError("--openpgp-cert goes with --create")
    engine = open_engine(args)
    if action == "list":
        write_output(None, render_endorsers(endorsers.list_endorsers(engine), fmt))
    elif action == "links":
        write_output(None, render_links(endorsers.list_links(engine), fmt))
    elif action == "create":
        identifier = _one(args.endorser_uuid, "-e/--endorser_uuid")
        dns = [*args.dn, *args.subject]
        certs = read_certificates(Path(name) for name in args.openpgp_cert)
        added = endorsers.create_endorser(engine, identifier, dns, args.issuer, openpgp=certs)
        for what, typed in [*(("DN", dn) for dn in dns), *(("issuer", ca) for ca in args.issuer)]:
            stored, converted = normalise_typed_dn(typed, what)
            if converted:
                print(f"{PROG}: {what} {typed!r} stored as {stored!r}", file=sys.stderr)
        print(f"{PROG}: endorser {identifier!r}: {added} principal(s) added", file=sys.stderr)
        for cert in certs:
            print(f"{PROG}: endorser {identifier!r}: OpenPGP {cert.fingerprint}", file=sys.stderr)
    elif action == "delete":
        if not args.endorser_uuid:
            raise UsageError("give the endorser with -e/--endorser_uuid")
        for identifier in args.endorser_uuid:
            endorsers.delete_endorser(engine, identifier)
    elif action in ("link", "unlink"):
        identifier = _one(args.endorser_uuid, "-e/--endorser_uuid")
        subscription = _one(args.subscription_uuid, "-s/--subscription_uuid")
        if action == "link":
            endorsers.link_endorser(engine, identifier, subscription)
        else:
            endorsers.unlink_endorser(engine, identifier, subscription)
    else:
        if not args.endorser_uuid:
            raise UsageError("give the endorser with -e/--endorser_uuid")
        for identifier in args.endorser_uuid:
            write_output(
                None, render_endorser_info(endorsers.endorser_details(engine, identifier), fmt)
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vmcatcher_endorser``."""
    return run_command(PROG, _body, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
