"""``vmcaster``: the endorser's tool to build, sign and publish image lists (reference §3).

The option names, environment variables and exit codes are those of vmcaster 0.0.37; exactly
one action per call. This module only parses arguments, prints and picks exit codes; each action is
a library function of :mod:`imagelist.publisher.actions` (as twine splits its commands).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from ..db.defaults import PUBLISHER_DATABASE_URL as DEFAULT_DATABASE_URL
from ..errors import UsageError
from ..progress import terminal_progress as _progress
from ..publisher.kinds import KINDS
from ._common import configure_logging, freeze_at_exit, parse_with_settings, run_command
from ._settings import settings_of
from ._vmcaster_options import build_parser

if TYPE_CHECKING:  # SQLAlchemy and the publisher are imported when an action runs, not for --help
    from ..publisher.store import Kind, PublisherStore

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

# --- action selection -----------------------------------------------------------------------------


def _actions(args: argparse.Namespace) -> list[str]:
    """The actions requested (key set and value together are one action)."""
    found: list[str] = []
    for kind in KINDS:
        for verb in ("list", "add", "show", "keys"):
            if getattr(args, f"{verb}_{kind}"):
                found.append(f"{verb}-{kind}")
        if getattr(args, f"del_{kind}") not in (None, False):
            found.append(f"del-{kind}")
        if (
            getattr(args, f"key_set_{kind}") is not None
            or getattr(args, f"key_value_{kind}") is not None
            or getattr(args, f"key_value_{kind}_file") is not None
        ):
            found.append(f"key-set-{kind}")
        if getattr(args, f"key_del_{kind}") is not None:
            found.append(f"key-del-{kind}")
    for other in ("image", "endorser"):
        for verb in ("add", "del", "list"):
            if getattr(args, f"imagelist_{verb}_{other}"):
                found.append(f"imagelist-{verb}-{other}")
    for name in (
        "import_imagelist_json",
        "import_imagelist_smime",
        "download_imagelist",
        "upload_image",
        "register_oci_image",
        "upload_imagelist",
        "import_legacy_db",
    ):
        if getattr(args, name) not in (None, False):
            found.append(name.replace("_", "-"))
    return found


def _typed_dn(value: str, option: str) -> str:
    """A DN typed in a comma form (RFC 4514) as the slash form hv:dn uses; slash forms as given.

    A slash form is left alone, so that endorsers imported from an old database stay selectable.
    """
    if value.startswith("/"):
        return value
    from ..trust.typed_dn import normalise_typed_dn

    stored, _ = normalise_typed_dn(value, option)
    print(f"vmcaster: {option} {value!r} read as {stored!r}", file=sys.stderr)
    return stored


def _normalise_endorser_dns(args: argparse.Namespace) -> None:
    """--select-endorser, --del-endorser and the hv:ca key value in the OpenSSL slash form."""
    if args.select_endorser:
        args.select_endorser = _typed_dn(args.select_endorser, "--select-endorser")
    if args.del_endorser:
        args.del_endorser = _typed_dn(args.del_endorser, "--del-endorser")
    if getattr(args, "key_set_endorser", None) == "hv:ca" and args.key_value_endorser:
        args.key_value_endorser = _typed_dn(args.key_value_endorser, "--key-value-endorser")


def _selected(args: argparse.Namespace, kind: Kind) -> str:
    value: str | None = getattr(args, f"select_{kind}")
    if not value:
        raise UsageError(f"this action needs --select-{kind}")
    return value


def _key_value(args: argparse.Namespace, kind: Kind) -> tuple[str, str]:
    key: str | None = getattr(args, f"key_set_{kind}")
    value: str | None = getattr(args, f"key_value_{kind}")
    value_file: str | None = getattr(args, f"key_value_{kind}_file")
    if key is None:
        raise UsageError(f"--key-value-{kind} needs --key-set-{kind} KEY")
    if value_file is not None:
        if value is not None:
            logger.warning("--key-value-%s is replaced by the content of %s", kind, value_file)
        from ..publisher.safefiles import read_value_file

        value = read_value_file(value_file, f"--key-value-{kind}-file")
    if value is None:
        raise UsageError(f"--key-set-{kind} needs --key-value-{kind} or --key-value-{kind}-file")
    return key, value


def _print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print(line)


# --- dispatch: each action is a function of imagelist.publisher.actions ---------------------------


_OBJECT_VERBS = frozenset({"list", "add", "del", "show", "keys", "key-set", "key-del"})


def _openpgp(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """The OpenPGP key of ``--upload-imagelist`` (option, then environment, then vmcaster.cfg)."""
    from ._openpgp import openpgp_signing_key

    def load(path: str) -> Any:
        return openpgp_signing_key(
            path, environ=environ, allow_open=args.allow_open_key_permissions
        )

    path = args.openpgp_key or environ.get("VMCASTER_OPENPGP_KEY")
    return {"openpgp_key": load(path) if path else None, "openpgp_loader": load}


def _run_action(
    action: str, args: argparse.Namespace, store: PublisherStore, environ: Mapping[str, str]
) -> int:
    from ..publisher import actions

    verb, _, kind_name = action.rpartition("-")
    if verb in _OBJECT_VERBS:
        _object_action(verb, cast("Kind", kind_name), args, store)
    elif action.startswith("imagelist-"):
        _, verb, other = action.split("-")
        _link_action(verb, other, args, store)
    elif action == "upload-image":
        _upload_image(args, store, environ)
    elif action == "register-oci-image":
        from ..oci.access import RegistryAccess
        from ..oci.publish import register_registry_image

        access = RegistryAccess.from_environment(environ)
        done = register_registry_image(
            store, _selected(args, "image"), args.register_oci_image, access
        )
        state = "unchanged" if done.unchanged else f"version {done.version}"
        print(f"{done.image}\t{done.facts.reference.uri()}\t{state}")
    elif action == "upload-imagelist":
        print(
            actions.upload_imagelist(
                store,
                _selected(args, "imagelist"),
                lifetime=actions.lifetime_days(
                    args.lifetime_imagelist or environ.get("VMCASTER_IMAGELIST_LIFETIME")
                ),
                config_file=args.config_file,
                x509_cert=args.x509_cert,
                x509_key=args.x509_key,
                x509_dir=args.x509_dir,
                digest=args.digest,
                allow_open_key=args.allow_open_key_permissions,
                environ=environ,
                **_openpgp(args, environ),
            )
        )
    elif action == "import-legacy-db":
        print(actions.import_legacy(store, args.import_legacy_db))
    elif action == "import-imagelist-json":
        print(actions.import_json_file(store, Path(args.import_imagelist_json)))
    elif action == "import-imagelist-smime":
        checker = actions.verifier(args.cert_dir, environ, no_verify=args.no_verify)
        print(actions.import_smime_file(store, Path(args.import_imagelist_smime), checker))
    else:  # download-imagelist
        imagelist = _selected(args, "imagelist")
        from ..https import igtf_https_enabled

        checker = actions.verifier(args.cert_dir, environ, no_verify=args.no_verify)
        print(actions.download(store, imagelist, checker, igtf_https=igtf_https_enabled(environ)))
    return 0


def _object_action(verb: str, kind: Kind, args: argparse.Namespace, store: PublisherStore) -> None:
    from ..publisher import actions

    if verb == "list":
        _print_lines(actions.list_objects(store, kind))
    elif verb == "add":
        actions.add_object(store, kind, _selected(args, kind))
    elif verb == "del":
        target = args.del_endorser if kind == "endorser" else None
        actions.delete_object(store, kind, target or _selected(args, kind))
    elif verb == "show":
        print(actions.show_object(store, kind, _selected(args, kind)))
    elif verb == "keys":
        _print_lines(actions.list_keys(store, kind, _selected(args, kind)))
    elif verb == "key-set":
        key, value = _key_value(args, kind)
        actions.set_key(store, kind, _selected(args, kind), key, value)
    else:  # key-del
        actions.delete_key(store, kind, _selected(args, kind), getattr(args, f"key_del_{kind}"))


def _link_action(verb: str, other: str, args: argparse.Namespace, store: PublisherStore) -> None:
    from ..publisher import actions

    imagelist = _selected(args, "imagelist")
    kind: Literal["image", "endorser"] = "image" if other == "image" else "endorser"
    if verb == "list":
        _print_lines(actions.linked(store, kind, imagelist))
    elif verb == "add":
        actions.link(store, kind, imagelist, _selected(args, kind))
    else:
        actions.unlink(store, kind, imagelist, _selected(args, kind))


def _upload_image(
    args: argparse.Namespace, store: PublisherStore, environ: Mapping[str, str]
) -> None:
    from ..publisher import actions

    image = _selected(args, "image")
    path = Path(args.upload_image).absolute()  # never "-X" or "--rsh=..." to a copy program
    size = path.stat().st_size if path.is_file() else 0
    progress = _progress(f"vmcaster: {path.name}", size)
    try:
        message = actions.upload_image(
            store, image, path, config_file=args.config_file, environ=environ, progress=progress
        )
    finally:
        if progress is not None:
            progress.close()
    print(message)


def _body(argv: Sequence[str]) -> int:
    args = parse_with_settings(build_parser(), argv)
    settings = settings_of(args)  # options, environment and defaults, resolved once
    environ = settings.environ
    configure_logging(args.verbose, args.quiet, args.log_config or environ.get("VMCASTER_LOG_CONF"))
    _normalise_endorser_dns(args)
    actions = _actions(args)
    if not actions:
        raise UsageError("no action given (see vmcaster --help)")
    if len(actions) > 1:
        raise UsageError(f"too many actions: {', '.join('--' + a for a in actions)}; give one")
    from ..db.publisher import open_database
    from ..publisher.store import PublisherStore

    store = PublisherStore(
        open_database(
            args.database or environ.get("VMCASTER_RDBMS") or DEFAULT_DATABASE_URL,
            file_mode=settings.db_file_mode(),
        )
    )
    try:
        return _run_action(actions[0], args, store, environ)
    finally:
        store.engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vmcaster`` command."""
    freeze_at_exit()  # the store's engine is disposed at the end of _body
    return run_command("vmcaster", _body, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
