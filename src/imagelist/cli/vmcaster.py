"""``vmcaster``: the endorser's tool to build, sign and publish image lists (reference §3).

The option names, environment variables and exit codes are those of vmcaster 0.0.37; exactly
one action per call. This module only parses arguments, prints and picks exit codes; each action is
a library function of :mod:`imagelist.publisher.actions` (as twine splits its commands).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from ..errors import UsageError
from ..progress import terminal_progress as _progress
from ._common import add_logging_options, configure_logging, make_parser, run_command

if TYPE_CHECKING:  # SQLAlchemy and the publisher are imported when an action runs, not for --help
    from ..publisher.store import Kind, PublisherStore

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

# The same values as imagelist.db.publisher.DEFAULT_DATABASE_URL and publisher.actions.KINDS /
# KIND_NAMES (tests/cli/test_startup.py checks), spelt here so that --help imports no SQLAlchemy.
DEFAULT_DATABASE_URL = "sqlite:///vmcaster.db"
_KINDS: tuple[Kind, ...] = ("imagelist", "image", "endorser")
_NAMES: dict[Kind, str] = {"imagelist": "image list", "image": "image", "endorser": "endorser"}

DESCRIPTION = """\
Build, sign and publish HEPiX image lists (vmcaster). Exactly one action per call.
Image lists and images are selected by their dc:identifier (a UUID), endorsers by their
certificate subject (hv:dn, OpenSSL one-line form).
"""

EPILOG = f"""\
environment:
  VMCASTER_RDBMS            database URL (default {DEFAULT_DATABASE_URL}: the file vmcaster.db
                            in the current working directory); any SQLAlchemy URL works
  VMCASTER_CFG              upload configuration (default ~/.vmcaster.cfg, then
                            /etc/vmcaster/vmcaster.cfg); read by the upload actions only
  VMCASTER_X509_DIR         directory of usercert.pem/userkey.pem (default $HOME/.globus)
  VMCASTER_X509_CERT, VMCASTER_X509_KEY   signing certificate and key
  VMCASTER_X509_KEY_PASSPHRASE_FILE       passphrase of an encrypted key (else asked on
                            the terminal)
  VMCASTER_IMAGELIST_LIFETIME             days a published list is valid (default 28)
  VMCASTER_LOG_CONF         Python logging configuration file
  VMCASTER_SSH_CONFIG       ssh client configuration given to scp/ssh as -F FILE
  VMCATCHER_DIR_CERT, X509_CERT_DIR       trust directory for verifying imports

exit codes: 0 done (also "image unchanged"), 1 usage, configuration or unknown object,
  13 image has no hv:uri, 20 required keys missing or endorser/certificate mismatch (also
  invalid JSON on import), 21 no key path, 22 no certificate path, 23 key or certificate
  file missing, 24 key or certificate unreadable or wrong passphrase, 31 certificate without
  keyUsage, 32 keyUsage without digitalSignature, 36 database error, 45 image in no list,
  77 upload failed, 56-59/65 --register-oci-image (docs/oci.md), 99 no vmcaster.cfg section
  for the host or a URI that leaves its uriReplace directory, 11/12 verification failed on
  import. See docs/vmcaster.md.
"""


def build_parser() -> argparse.ArgumentParser:
    """The vmcaster command line (the original option names)."""
    parser = make_parser("vmcaster", description=DESCRIPTION, epilog=EPILOG)
    settings = parser.add_argument_group("settings")
    settings.add_argument(
        "-d",
        "--database",
        metavar="URL",
        help="database URL (default $VMCASTER_RDBMS or sqlite:///vmcaster.db, a file in the "
        "current working directory)",
    )
    settings.add_argument(
        "-C",
        "--config-file",
        metavar="FILE",
        help="upload configuration (default $VMCASTER_CFG, ~/.vmcaster.cfg, "
        "/etc/vmcaster/vmcaster.cfg); only the upload actions read it",
    )
    settings.add_argument("--x509-dir", metavar="DIR", help="directory of usercert/userkey.pem")
    settings.add_argument(
        "--allow-open-key-permissions",
        action="store_true",
        help="use a signing key or passphrase file that group or others can access (warns; "
        "refused by default, as OpenSSH does)",
    )
    settings.add_argument("--x509-cert", metavar="FILE", help="signing certificate (PEM)")
    settings.add_argument("--x509-key", metavar="FILE", help="signing private key (PEM)")
    settings.add_argument(
        "--openpgp-key",
        metavar="FILE",
        help="with --upload-imagelist: also publish image.list.json and its detached OpenPGP "
        "signature image.list.json.asc, signed with this armored secret key (default "
        "$VMCASTER_OPENPGP_KEY, else the vmcaster.cfg section's openpgpKey; ADR 21)",
    )
    settings.add_argument(
        "--cert-dir",
        metavar="DIR",
        help="trust directory for --import-imagelist-smime/--download-imagelist "
        "(default $VMCATCHER_DIR_CERT, $X509_CERT_DIR, /etc/grid-security/certificates)",
    )
    settings.add_argument(
        "--no-verify",
        action="store_true",
        help="import S/MIME lists without verifying the signer (a warning is logged)",
    )
    add_logging_options(parser, env_var="VMCASTER_LOG_CONF")
    parser.add_argument("-L", "--logcfg", dest="log_config", help=argparse.SUPPRESS)

    select = parser.add_argument_group("selections")
    select.add_argument("--select-imagelist", metavar="UUID", help="select an image list")
    select.add_argument("--select-image", metavar="UUID", help="select an image")
    select.add_argument("--select-endorser", metavar="DN", help="select an endorser by hv:dn")

    objects = parser.add_argument_group("objects")
    for kind in _KINDS:
        name = _NAMES[kind]
        objects.add_argument(
            f"--list-{kind}", action="store_true", help=f"print every {name} id, one per line"
        )
        objects.add_argument(
            f"--add-{kind}",
            action="store_true",
            help=f"create the selected {name} (no-op if it exists)",
        )
        if kind == "endorser":
            objects.add_argument(
                "--del-endorser",
                nargs="?",
                const="",
                metavar="DN",
                help="delete an endorser (DN, or the selected one) with its keys and links",
            )
        else:
            objects.add_argument(
                f"--del-{kind}",
                action="store_true",
                help=f"delete the selected {name} with its keys and links",
            )
        objects.add_argument(
            f"--show-{kind}",
            action="store_true",
            help=f"print the selected {name} as JSON"
            + (' ({"hv:imagelist": ...})' if kind == "imagelist" else ""),
        )

    links = parser.add_argument_group("links (need --select-imagelist and the other selection)")
    for other in ("image", "endorser"):
        links.add_argument(
            f"--imagelist-add-{other}", action="store_true", help=f"link the {other} to the list"
        )
        links.add_argument(
            f"--imagelist-del-{other}", action="store_true", help=f"unlink the {other}"
        )
        links.add_argument(
            f"--imagelist-list-{other}",
            action="store_true",
            help=f"print the {other}s linked to the list",
        )

    keys = parser.add_argument_group("metadata keys")
    for kind in _KINDS:
        name = _NAMES[kind]
        keys.add_argument(
            f"--key-set-{kind}",
            metavar="KEY",
            help=f"set KEY of the selected {name} (with --key-value-{kind}[-file])",
        )
        keys.add_argument(f"--key-value-{kind}", metavar="VALUE", help="the value to set")
        keys.add_argument(
            f"--key-value-{kind}-file", metavar="FILE", help="set the value to FILE's content"
        )
        keys.add_argument(f"--key-del-{kind}", metavar="KEY", help=f"delete KEY of the {name}")
        keys.add_argument(
            f"--keys-{kind}", action="store_true", help=f"print the keys of the selected {name}"
        )

    transfer = parser.add_argument_group("import and publish")
    transfer.add_argument(
        "--import-imagelist-json", metavar="FILE", help="import an unsigned JSON image list"
    )
    transfer.add_argument(
        "--import-imagelist-smime",
        metavar="FILE",
        help="import a signed image list, after verifying it against the trust directory",
    )
    transfer.add_argument(
        "--download-imagelist",
        action="store_true",
        help="fetch the selected list from its hv:uri, verify it and import it",
    )
    transfer.add_argument(
        "--upload-image",
        metavar="PATH",
        help="publish PATH as the new file of the selected image (size, SHA-512, new hv:uri, "
        "version bump)",
    )
    transfer.add_argument(
        "--register-oci-image",
        metavar="REFERENCE",
        help="point the selected image at one already in an OCI registry (HOST/REPO:TAG or "
        "oci://...@sha256:...): hv:uri pinned to the manifest digest, size and SHA-512 read "
        "from the layer once (docs/oci.md; registry settings from IMAGELIST_OCI_*)",
    )
    transfer.add_argument(
        "--upload-imagelist",
        action="store_true",
        help="sign the selected list and publish it (new version, dates)",
    )
    transfer.add_argument(
        "--lifetime-imagelist",
        metavar="DAYS",
        help="days the published list is valid (default $VMCASTER_IMAGELIST_LIFETIME or 28)",
    )
    transfer.add_argument(
        "--digest",
        choices=["sha256", "sha384", "sha512", "sha1"],
        default="sha256",
        help="signature digest (default sha256; sha1 only for very old subscribers)",
    )
    transfer.add_argument(
        "--import-legacy-db",
        metavar="URL",
        help="import a vmcaster 0.0.x database (e.g. sqlite:///old/vmcaster.db) into -d",
    )
    return parser


# --- action selection -----------------------------------------------------------------------------


def _actions(args: argparse.Namespace) -> list[str]:
    """The actions requested (key set and value together are one action)."""
    found: list[str] = []
    for kind in _KINDS:
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
        from ..oci.publish import register_registry_image

        done = register_registry_image(store, _selected(args, "image"), args.register_oci_image)
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
        checker = actions.verifier(args.cert_dir, no_verify=args.no_verify)
        print(actions.import_smime_file(store, Path(args.import_imagelist_smime), checker))
    else:  # download-imagelist
        imagelist = _selected(args, "imagelist")
        checker = actions.verifier(args.cert_dir, no_verify=args.no_verify)
        print(actions.download(store, imagelist, checker))
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
    environ = os.environ
    args = build_parser().parse_args(argv)
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
        open_database(args.database or environ.get("VMCASTER_RDBMS") or DEFAULT_DATABASE_URL)
    )
    try:
        return _run_action(actions[0], args, store, environ)
    finally:
        store.engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vmcaster`` command."""
    return run_command("vmcaster", _body, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
