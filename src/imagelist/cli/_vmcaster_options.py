"""The ``vmcaster`` command line: its options, environment and exit codes (its ``--help``).

Kept apart from :mod:`.vmcaster`, which checks the selections, runs the action and prints.
Imports nothing heavy: ``--help`` loads no SQLAlchemy and no publisher.
"""

from __future__ import annotations

import argparse

from ..db.defaults import PUBLISHER_DATABASE_URL
from ..publisher.kinds import KIND_NAMES, KINDS
from ._common import add_logging_options, make_parser

__all__ = ["build_parser"]

DESCRIPTION = """\
Build, sign and publish HEPiX image lists (vmcaster). Exactly one action per call.
Image lists and images are selected by their dc:identifier (a UUID), endorsers by their
certificate subject (hv:dn, OpenSSL one-line form).
"""

EPILOG = f"""\
environment:
  VMCASTER_RDBMS            database URL (default {PUBLISHER_DATABASE_URL}: the file vmcaster.db
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
        help=f"database URL (default $VMCASTER_RDBMS or {PUBLISHER_DATABASE_URL}, a file in the "
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
    for kind in KINDS:
        name = KIND_NAMES[kind]
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
    for kind in KINDS:
        name = KIND_NAMES[kind]
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
