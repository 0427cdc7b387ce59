"""``vmcaster``: the endorser's tool to build, sign and publish image lists (reference §3).

The option names, environment variables and exit codes are those of vmcaster 0.0.37; exactly
one action per call. This module only parses arguments, prints and picks exit codes; the work
is done by :mod:`imagelist.publisher`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..db.publisher import DEFAULT_DATABASE_URL, open_database
from ..errors import UsageError
from ..publisher.store import Kind, PublisherStore, vmcaster_json
from ._common import add_logging_options, configure_logging, make_parser, run_command

if TYPE_CHECKING:
    from ..verify import ListVerifier

# The actions import what they need when they run: listing keys should not load cryptography,
# and uploading an image should not load the signing code.

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

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
  77 upload failed, 99 no vmcaster.cfg section for the host or a URI that leaves its
  uriReplace directory, 11/12 verification failed on
  import. See docs/vmcaster.md.
"""

_KINDS: tuple[Kind, ...] = ("imagelist", "image", "endorser")
_NAMES = {"imagelist": "image list", "image": "image", "endorser": "endorser"}


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


def _lifetime(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from ..publisher.publish import DEFAULT_LIFETIME_DAYS

    text = args.lifetime_imagelist or environ.get("VMCASTER_IMAGELIST_LIFETIME")
    if text is None:
        return DEFAULT_LIFETIME_DAYS
    try:
        days = int(text)
    except ValueError:
        raise UsageError(f"image list lifetime {text!r} is not a whole number of days") from None
    if days < 1:
        raise UsageError(f"image list lifetime {days} is too short: at least 1 day")
    return days


class _ProgressLine:
    """A progress line on stderr (a terminal): percentage and rate, at most 4 times a second."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.start = time.monotonic()
        self.last = 0.0
        self.open = False

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.25 and done < self.total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-6) / 2**20
        percent = min(100, 100 * done // self.total)
        sys.stderr.write(f"\r{self.label}: {percent:3d}% {rate:8.1f} MiB/s")
        sys.stderr.flush()
        self.open = True

    def close(self) -> None:
        """End the line (the byte count may not reach the total, e.g. after compression)."""
        if self.open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.open = False


def _progress(label: str, total: int) -> _ProgressLine | None:
    """A progress line if stderr is a terminal."""
    if not sys.stderr.isatty() or total <= 0:
        return None
    return _ProgressLine(label, total)


def _verifier(args: argparse.Namespace) -> ListVerifier | None:
    if args.no_verify:
        return None
    from ..trust import CrlPolicy, TrustStore, default_trust_dir
    from ..verify import ListVerifier

    store = TrustStore.load(args.cert_dir or default_trust_dir())
    return ListVerifier(store, crl_policy=CrlPolicy.REQUIRE)


def _print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print(line)


# --- actions --------------------------------------------------------------------------------------


def _run_action(
    action: str, args: argparse.Namespace, store: PublisherStore, environ: Mapping[str, str]
) -> int:
    simple: dict[str, Callable[[], int]] = {}
    for kind in _KINDS:
        simple.update(_object_actions(kind, args, store))
    handler = simple.get(action)
    if handler is not None:
        return handler()
    if action.startswith("imagelist-"):
        _, verb, other = action.split("-")
        return _link_action(verb, other, args, store)
    if action == "upload-image":
        return _upload_image(args, store, environ)
    if action == "upload-imagelist":
        return _upload_imagelist(args, store, environ)
    if action == "import-legacy-db":
        return _import_legacy(args, store)
    from ..publisher.importing import download_imagelist, import_json, import_smime

    if action == "import-imagelist-json":
        print(import_json(store, Path(args.import_imagelist_json)))
        return 0
    if action == "import-imagelist-smime":
        print(import_smime(store, Path(args.import_imagelist_smime), _verifier(args)))
        return 0
    print(download_imagelist(store, _selected(args, "imagelist"), _verifier(args)))
    return 0


def _import_legacy(args: argparse.Namespace, store: PublisherStore) -> int:
    from ..db.publisher.legacy import import_legacy_database

    report = import_legacy_database(args.import_legacy_db, store.engine)
    print(
        f"imported {report.imagelists} image list(s), {report.images} image(s), "
        f"{report.endorsers} endorser(s), {report.keys} key(s), {report.links} link(s)"
        + (f"; skipped {len(report.skipped)} row(s)" if report.skipped else "")
    )
    return 0


def _object_actions(
    kind: Kind, args: argparse.Namespace, store: PublisherStore
) -> dict[str, Callable[[], int]]:
    def listing() -> int:
        _print_lines(store.identifiers(kind))
        return 0

    def add() -> int:
        store.add(kind, _selected(args, kind))
        return 0

    def delete() -> int:
        target = args.del_endorser if kind == "endorser" else None
        store.delete(kind, target or _selected(args, kind))
        return 0

    def show() -> int:
        identifier = _selected(args, kind)
        if kind == "imagelist":
            print(vmcaster_json(store.show_imagelist(identifier)))
        elif kind == "image":
            print(vmcaster_json(store.show_image(identifier)))
        else:
            print(vmcaster_json(store.show_endorser(identifier)))
        return 0

    def keys() -> int:
        _print_lines(sorted(store.keys(kind, _selected(args, kind))))
        return 0

    def key_set() -> int:
        key, value = _key_value(args, kind)
        store.set_key(kind, _selected(args, kind), key, value)
        return 0

    def key_del() -> int:
        store.delete_key(kind, _selected(args, kind), getattr(args, f"key_del_{kind}"))
        return 0

    return {
        f"list-{kind}": listing,
        f"add-{kind}": add,
        f"del-{kind}": delete,
        f"show-{kind}": show,
        f"keys-{kind}": keys,
        f"key-set-{kind}": key_set,
        f"key-del-{kind}": key_del,
    }


def _link_action(verb: str, other: str, args: argparse.Namespace, store: PublisherStore) -> int:
    imagelist = _selected(args, "imagelist")
    kind: Literal["image", "endorser"] = "image" if other == "image" else "endorser"
    if verb == "list":
        _print_lines(store.linked(kind, imagelist))
        return 0
    identifier = _selected(args, kind)
    if verb == "add":
        store.link(kind, imagelist, identifier)
    else:
        store.unlink(kind, imagelist, identifier)
    return 0


def _upload_image(
    args: argparse.Namespace, store: PublisherStore, environ: Mapping[str, str]
) -> int:
    from ..publisher.config import load_config
    from ..publisher.transports import interrupt_on_sigterm
    from ..publisher.upload import upload_image

    image = _selected(args, "image")
    path = Path(args.upload_image).absolute()  # never "-X" or "--rsh=..." to a copy program
    config = load_config(args.config_file, environ)
    size = path.stat().st_size if path.is_file() else 0
    progress = _progress(f"vmcaster: {path.name}", size)
    try:
        with interrupt_on_sigterm():
            result = upload_image(store, image, path, config, progress=progress, environ=environ)
    finally:
        if progress is not None:
            progress.close()
    if result.unchanged:
        print(f"image {image} unchanged (sha512 {result.digest.sha512[:16]}...)")
    else:
        print(
            f"image {image} version {result.version}: {result.digest.size} bytes, "
            f"published at {result.uri}"
        )
    return 0


def _upload_imagelist(
    args: argparse.Namespace, store: PublisherStore, environ: Mapping[str, str]
) -> int:
    from ..publisher.config import load_config
    from ..publisher.credentials import default_passphrase, resolve_paths
    from ..publisher.publish import upload_imagelist
    from ..publisher.transports import interrupt_on_sigterm

    identifier = _selected(args, "imagelist")
    lifetime = _lifetime(args, environ)
    config = load_config(args.config_file, environ)
    paths = resolve_paths(
        cert=args.x509_cert, key=args.x509_key, directory=args.x509_dir, environ=environ
    )
    allow_open = args.allow_open_key_permissions
    with interrupt_on_sigterm():
        publication = upload_imagelist(
            store,
            identifier,
            config,
            paths,
            default_passphrase(environ, allow_open=allow_open),
            lifetime_days=lifetime,
            digest=args.digest,
            environ=environ,
            allow_open_key=allow_open,
        )
    print(
        f"image list {identifier} version {publication.version} published at "
        f"{publication.uri}, expires {publication.expires:%Y-%m-%dT%H:%M:%SZ}"
    )
    return 0


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
