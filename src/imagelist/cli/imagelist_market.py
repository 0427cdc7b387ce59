"""``imagelist-market``: run the marketplace service and administer it (ADR 0019).

    imagelist-market [--home DIR] [--database URL] serve [--host H] [--port P] [--workers N]
    imagelist-market db upgrade
    imagelist-market vo create NAME [--description TEXT] [--gated] | vo list
    imagelist-market person create NAME [--email ADDR] | person list
    imagelist-market identity add PERSON --dn DN --issuer CA_DN | identity remove ID
    imagelist-market role grant|revoke VO PERSON manager|deputy|expert
    imagelist-market token create PERSON --name NAME [--scope S]... [--days N]
    imagelist-market token list [--person ID] | token revoke ID
    imagelist-market resign --due [--margin-days N] [-f json]
    imagelist-market notify [--dry-run] [-f json]

Settings: ``--home`` (default ``$IMAGELIST_MARKET_HOME``, else ``./imagelist-market``) holds
the embedded default (``market.db`` and ``data/``); ``IMAGELIST_MARKET_*`` variables override
each setting (see README "Marketplace"). Exit codes: 0 ok, 1 usage, 36 database, 80-89 the
market's refusals (81 not found, 82 conflict, 83 state, 84 permission, 85 import, 86 integrity,
87 settings, 88 publication, 89 invalid value).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from ..market.settings import MarketSettings
from ._common import (
    add_logging_options,
    configure_logging,
    make_parser,
    parse_with_settings,
    run_command,
)
from ._market_notify import add_notify_parser, run_notify
from ._market_resign import add_resign_parser, run_resign
from ._settings import settings_of

__all__ = ["HOME_ENV", "build_parser", "main", "settings_from_args"]

PROG = "imagelist-market"
HOME_ENV = "IMAGELIST_MARKET_HOME"
DEFAULT_HOME = "imagelist-market"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--home",
        metavar="DIR",
        help=f"directory of the embedded database and data (default: ${HOME_ENV}, "
        f"else ./{DEFAULT_HOME})",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="database URL (default: $IMAGELIST_MARKET_DATABASE_URL, else sqlite in --home)",
    )
    add_logging_options(parser, env_var=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the service (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--no-jobs", action="store_true", help="do not run integrity jobs in these processes"
    )

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="create or migrate the schema to the newest revision")

    vo = commands.add_parser("vo", help="virtual organisations")
    vo_commands = vo.add_subparsers(dest="action", metavar="ACTION", required=True)
    vo_create = vo_commands.add_parser("create", help="register a VO")
    vo_create.add_argument("name")
    vo_create.add_argument("--description", default="")
    vo_create.add_argument(
        "--gated", action="store_true", help="its list needs a token with vo:NAME:read"
    )
    vo_commands.add_parser("list", help="list the VOs")

    person = commands.add_parser("person", help="people")
    person_commands = person.add_subparsers(dest="action", metavar="ACTION", required=True)
    person_create = person_commands.add_parser("create", help="add a person (prints the id)")
    person_create.add_argument("name")
    person_create.add_argument("--email")
    person_commands.add_parser("list", help="list people and their identities")

    identity = commands.add_parser("identity", help="identities of people")
    identity_commands = identity.add_subparsers(dest="action", metavar="ACTION", required=True)
    identity_add = identity_commands.add_parser("add", help="attach an identity to a person")
    identity_add.add_argument("person", type=int)
    identity_add.add_argument("--kind", choices=("x509", "oidc"), default="x509")
    identity_add.add_argument(
        "--dn", required=True, help="certificate subject (slash or RFC 2253) or OIDC sub"
    )
    identity_add.add_argument("--issuer", required=True, help="CA DN or OIDC issuer")
    identity_remove = identity_commands.add_parser("remove", help="detach an identity")
    identity_remove.add_argument("id", type=int)

    role = commands.add_parser("role", help="VO roles")
    role_commands = role.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action in ("grant", "revoke"):
        sub = role_commands.add_parser(action, help=f"{action} a VO role")
        sub.add_argument("vo")
        sub.add_argument("person", type=int)
        sub.add_argument("role", choices=("manager", "deputy", "expert"))

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="action", metavar="ACTION", required=True)
    token_create = token_commands.add_parser("create", help="make a token (printed once)")
    token_create.add_argument("person", type=int)
    token_create.add_argument("--name", required=True)
    token_create.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        help="market:write (default) or vo:NAME:read; repeat for several",
    )
    token_create.add_argument("--days", type=int, default=90, help="lifetime (default 90)")
    token_list = token_commands.add_parser("list", help="list tokens (never their secrets)")
    token_list.add_argument("--person", type=int)
    token_revoke = token_commands.add_parser("revoke", help="revoke a token")
    token_revoke.add_argument("id", type=int)
    add_resign_parser(commands)
    add_notify_parser(commands)
    return parser


def _home(args: argparse.Namespace) -> Path:
    """``--home``, else ``$IMAGELIST_MARKET_HOME``, else ``./imagelist-market``."""
    return Path(args.home or settings_of(args).get(HOME_ENV) or DEFAULT_HOME)


def settings_from_args(args: argparse.Namespace) -> MarketSettings:
    """The market's settings: ``--home``/``--database`` over ``IMAGELIST_MARKET_*`` (from the
    command's environment, :func:`._settings.settings_of`) over the defaults."""
    environ = settings_of(args).environ
    return MarketSettings.from_env(_home(args), environ, database_url=args.database)


def _serve(args: argparse.Namespace, settings: MarketSettings) -> int:
    import uvicorn

    from ..db.market import open_database

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (see {PROG} --help)")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1 (see {PROG} --help)")
    settings.ensure_dirs()
    # migrate once, before the workers start
    open_database(settings.database_url, file_mode=settings.db_file_mode).dispose()
    # The workers build their app from the environment (uvicorn imports the factory anew).
    os.environ[HOME_ENV] = str(_home(args))
    os.environ["IMAGELIST_MARKET_DATABASE_URL"] = settings.database_url
    os.environ["IMAGELIST_MARKET_RUN_JOBS"] = "0" if args.no_jobs else "1"
    uvicorn.run(
        "imagelist.market.worker:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info" if args.verbose else "warning",
        proxy_headers=False,
    )
    return 0


def _print(*columns: object) -> None:
    print("\t".join("" if c is None else str(c) for c in columns))


def _admin(args: argparse.Namespace, settings: MarketSettings) -> int:
    from ..db.engine import transaction
    from ..db.market import open_database
    from ..market.common import CLI
    from ..market.people import (
        add_identity,
        create_person,
        create_vo,
        grant_role,
        list_people,
        list_vos,
        remove_identity,
        revoke_role,
    )
    from ..market.tokens import create_token, list_tokens, revoke_token

    engine = open_database(settings.database_url, file_mode=settings.db_file_mode)
    try:
        with transaction(engine) as session:
            command, action = args.command, getattr(args, "action", None)
            if command == "vo" and action == "create":
                created = create_vo(session, CLI, args.name, args.description, gated=args.gated)
                _print(created.name)
            elif command == "vo":
                for vo in list_vos(session):
                    _print(vo.name, "gated" if vo.gated else "public", vo.description)
            elif command == "person" and action == "create":
                _print(create_person(session, CLI, args.name, args.email).id)
            elif command == "person":
                for found in list_people(session):
                    identities = "; ".join(f"{i.kind}:{i.subject}" for i in found.identities)
                    _print(found.id, found.display_name, found.email, identities)
            elif command == "identity" and action == "add":
                added = add_identity(session, CLI, args.person, args.kind, args.dn, args.issuer)
                _print(added.id, added.subject, added.issuer)
            elif command == "identity":
                remove_identity(session, CLI, args.id)
            elif command == "role" and action == "grant":
                grant_role(session, CLI, args.vo, args.person, args.role)
            elif command == "role":
                revoke_role(session, CLI, args.vo, args.person, args.role)
            elif command == "token" and action == "create":
                _, secret = create_token(
                    session,
                    CLI,
                    args.person,
                    args.name,
                    args.scopes or ["market:write"],
                    days=args.days,
                    max_days=settings.token_max_days,
                )
                _print(secret)
            elif command == "token" and action == "list":
                for token in list_tokens(session, args.person):
                    state = "revoked" if token.revoked_at else f"expires {token.expires_at:%F}"
                    _print(token.id, token.person_id, token.name, " ".join(token.scopes), state)
            elif command == "token":
                revoke_token(session, CLI, args.id)
    finally:
        engine.dispose()
    return 0


def _body(argv: Sequence[str]) -> int:
    args = parse_with_settings(build_parser(), argv)
    configure_logging(args.verbose, args.quiet, args.log_config)
    settings = settings_from_args(args)
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "resign":
        return run_resign(args, settings)
    if args.command == "notify":
        return run_notify(args, settings)
    if args.command == "db":
        from ..db.market import open_database

        settings.ensure_dirs()
        open_database(settings.database_url, file_mode=settings.db_file_mode).dispose()
        return 0
    settings.ensure_dirs()
    return _admin(args, settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``imagelist-market``."""
    return run_command(PROG, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
