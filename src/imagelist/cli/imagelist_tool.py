"""``imagelist``: sign, verify and inspect image lists from the command line.

A thin layer over :mod:`imagelist.smime`, :mod:`imagelist.verify` and :mod:`imagelist.document`;
the vmcaster/vmcatcher commands are the compatible front ends, this one is for people who want to
look at one list.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OpenPGPMaterialError, UsageError
from ..signature_policy import SignaturePolicy
from ..site_config import CONFIG_ENV, DEFAULT_CONFIG_PATH, config_path, load_site_config
from ..trust.policies import CrlPolicy
from ._common import (
    add_logging_options,
    configure_logging,
    make_parser,
    parse_with_settings,
    run_command,
    write_output,
)
from ._json import dump_json, emit_error
from ._oci_commands import add_oci_parser
from ._openpgp import OPENPGP_PASSPHRASE_ENV, openpgp_signing_key
from ._settings import settings_of
from ._trust_options import add_crl_option, add_key_policy_option, key_policy

if TYPE_CHECKING:  # the run-time modules are imported where they run: --help needs none of them
    from ..document import ImageList
    from ..openpgp import VerifiedSignature
    from ..verify import VerifiedList

__all__ = ["main"]

EPILOG = """\
exit codes (as vmcatcher): 0 valid, 11 signature or trust path invalid, 12 hv:dn/hv:ca differ
from the signer or no CA in the trust directory, 14 trust directory unreadable, 33 created in
the future, 34 expired, 37/38 not a valid image list, 24 certificate or key unusable (wrong
passphrase, not PEM, not a pair), 1 usage. OpenPGP (ADR 21): 60 signature invalid over the
bytes, 61 made by none of the given certificates, 62 certificate or key expired, revoked or not
signing-capable, 63 image.list.json differs from the S/MIME payload, 64 a companion file, key or
certificate missing or unusable.
"""


def _read_input(path: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _cmd_sign(args: argparse.Namespace) -> int:
    from ..companions import companion_names, make_companions
    from ..document import ImageList
    from ..publisher.credentials import default_passphrase, load_certificate, load_private_key
    from ..smime import sign_detached

    payload = _read_input(args.input)
    ImageList.from_bytes(payload)  # refuse to sign something subscribers cannot read
    if args.openpgp_key is None and (args.cert is None or args.key is None):
        raise UsageError("--cert and --key are required (or --openpgp-key alone)")
    if args.openpgp_key is not None and args.output in (None, "-"):
        raise UsageError("--openpgp-key writes OUTPUT.json and OUTPUT.json.asc: name -o OUTPUT")
    openpgp_key = (
        openpgp_signing_key(args.openpgp_key, environ=settings_of(args).environ)
        if args.openpgp_key
        else None
    )
    message = None
    if args.cert is not None and args.key is not None:
        certificate = load_certificate(Path(args.cert))
        passphrase = default_passphrase(settings_of(args).environ)
        key = load_private_key(Path(args.key), certificate, passphrase)
        message = sign_detached(payload, certificate, key, digest=args.digest)
    if openpgp_key is not None:
        companions = make_companions(payload, openpgp_key)
        json_name, asc_name = companion_names(args.output)
        write_output(json_name, companions.json)
        write_output(asc_name, companions.signature)
    if message is not None:
        write_output(args.output, message)
    return 0


def _companion_paths(args: argparse.Namespace, policy: SignaturePolicy) -> tuple[Path, Path]:
    from ..companions import companion_names

    if args.input == "-":
        raise UsageError(f"--signature-policy {policy} reads files beside INPUT: name a file")
    if policy is SignaturePolicy.OPENPGP and args.input.endswith(".json"):
        return Path(args.input), Path(args.input + ".asc")
    json_name, asc_name = companion_names(args.input)
    return Path(json_name), Path(asc_name)


def _read_companion(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OpenPGPMaterialError(f"cannot read {path}: {exc.strerror}") from None


def _policy(args: argparse.Namespace) -> SignaturePolicy:
    if args.signature_policy is not None:
        policy = SignaturePolicy(args.signature_policy)
    else:
        policy = SignaturePolicy.SMIME_OPENPGP if args.openpgp_cert else SignaturePolicy.SMIME
    if policy.openpgp and not args.openpgp_cert:
        raise UsageError(f"--signature-policy {policy} needs --openpgp-cert FILE")
    return policy


def _verify_openpgp_only(args: argparse.Namespace) -> tuple[ImageList, VerifiedSignature]:
    from ..companions import verify_openpgp_list
    from ..document import parse_date
    from ..openpgp import read_certificates
    from ..verify import check_dates

    at = parse_date(args.at) if args.at else datetime.now(UTC)
    json_path, asc_path = _companion_paths(args, SignaturePolicy.OPENPGP)
    certs = read_certificates(Path(name) for name in args.openpgp_cert)
    json_bytes, signature = _read_companion(json_path), _read_companion(asc_path)
    imagelist, signed = verify_openpgp_list(json_bytes, signature, certs, now=at)
    if not args.ignore_dates:
        check_dates(imagelist, now=at)
    if args.payload:
        write_output(args.payload, json_bytes)
    return imagelist, signed


def _verify(args: argparse.Namespace) -> tuple[VerifiedList, VerifiedSignature | None]:
    from ..companions import verify_companion_signature
    from ..document import parse_date
    from ..openpgp import read_certificates
    from ..trust import TrustStore, default_trust_dir
    from ..verify import ListVerifier, check_dates

    policy = _policy(args)
    store = TrustStore.load(args.cert_dir or default_trust_dir(settings_of(args).environ))
    at = parse_date(args.at) if args.at else datetime.now(UTC)
    verifier = ListVerifier(store, crl_policy=CrlPolicy(args.crl), key_policy=key_policy(args))
    verified = verifier.verify(_read_input(args.input), at=at)
    signed = None
    if policy.openpgp:
        json_path, asc_path = _companion_paths(args, policy)
        certs = read_certificates(Path(name) for name in args.openpgp_cert)
        signed = verify_companion_signature(
            _read_companion(json_path),
            _read_companion(asc_path),
            certs,
            smime_payload=verified.payload,
            now=at,
        )
    if not args.ignore_dates:
        check_dates(verified.imagelist, now=at)
    if args.payload:
        write_output(args.payload, verified.payload)
    return verified, signed


def _date(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%SZ}"


def _openpgp_json(signed: VerifiedSignature) -> dict[str, Any]:
    return {
        "fingerprint": signed.fingerprint,
        "signing_key": signed.signing_key,
        "hash": signed.hash_algorithm,
    }


def verify_json(
    verified: VerifiedList | None,
    signed: VerifiedSignature | None = None,
    imagelist: ImageList | None = None,
) -> dict[str, Any]:
    """``imagelist verify -f json`` of a valid list (docs/json-output.md).

    ``"openpgp"`` is there only when an OpenPGP signature was checked; ``"signer"`` is null
    under ``--signature-policy openpgp``.
    """
    imagelist = verified.imagelist if verified is not None else imagelist
    assert imagelist is not None
    document: dict[str, Any] = {
        "ok": True,
        "signer": None
        if verified is None
        else {
            "subject": verified.signer_dn,
            "issuer": verified.signer_ca,
            "digest": verified.message.digest_algorithm,
        },
        "list": {
            "identifier": imagelist.identifier,
            "title": imagelist.title,
            "version": imagelist.version,
            "uri": imagelist.uri,
            "created": _date(imagelist.created),
            "expires": _date(imagelist.expires),
        },
        "images": [
            {
                "identifier": image.identifier,
                "title": image.title,
                "version": image.version,
                "uri": image.uri,
                "size": image.size,
                "sha512": image.sha512,
                "hypervisor": image.hypervisor,
                "arch": image.arch,
                "os": image.os,
                "osversion": image.osversion,
            }
            for image in imagelist.images
        ],
        "dropped": [
            {"identifier": dropped.identifier, "reason": dropped.reason}
            for dropped in imagelist.dropped_images
        ],
    }
    if signed is not None:
        document["openpgp"] = _openpgp_json(signed)
    return document


def _verify_any(
    args: argparse.Namespace,
) -> tuple[ImageList, VerifiedList | None, VerifiedSignature | None]:
    if _policy(args) is SignaturePolicy.OPENPGP:
        imagelist, only = _verify_openpgp_only(args)
        return imagelist, None, only
    verified, signed = _verify(args)
    return verified.imagelist, verified, signed


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.format == "json":
        if args.payload == "-":
            raise UsageError("--payload - and -f json both write to stdout; name a file")
        try:
            imagelist, verified, signed = _verify_any(args)
        except Exception as exc:  # run_command makes it one line and the exit code
            emit_error(exc)
            raise
        dump_json(verify_json(verified, signed, imagelist))
        return 0
    imagelist, verified, signed = _verify_any(args)
    signers = []
    if verified is not None:
        signers.append(f"{verified.signer_dn} ({verified.message.digest_algorithm})")
    if signed is not None:
        signers.append(f"OpenPGP {signed.fingerprint} ({signed.hash_algorithm})")
    print(
        f"valid: {imagelist.identifier} version {imagelist.version}, {len(imagelist.images)} "
        f"images, signed by {' and '.join(signers)}, "
        f"expires {imagelist.expires:%Y-%m-%dT%H:%M:%SZ}"
    )
    for dropped in imagelist.dropped_images:
        print(f"dropped: {dropped.identifier or '<no id>'}: {dropped.reason}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from ..document import ImageList
    from ..smime import read_signed

    data = _read_input(args.input)
    if not data.lstrip().startswith((b"{", b"\xef\xbb\xbf")):
        data = read_signed(data).payload  # checks the signature value, not the trust path
    imagelist = ImageList.from_bytes(data)
    json.dump(imagelist.to_dict(), sys.stdout, indent=4, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
    for warning in imagelist.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from ..site_report import effective_settings

    environ = settings_of(args).environ
    config = load_site_config(args.config, environ)
    settings = effective_settings(config, environ)
    if args.format == "json":
        document = {"file": config.path, "settings": [item.to_dict() for item in settings]}
        write_output(None, json.dumps(document, indent=2) + "\n")
        return 0
    path, _ = config_path(args.config, environ)
    lines = [f"# file: {config.path or f'{path} (absent)'}"]
    width = max(len(item.key) for item in settings)
    for item in settings:
        value = "(unset)" if item.value is None else item.value
        lines.append(f"{item.key:<{width}}  {value}  [{item.source}]")
    write_output(None, "\n".join(lines) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(
        "imagelist", description="Sign, verify and inspect HEPiX image lists.", epilog=EPILOG
    )
    add_logging_options(parser, env_var=None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sign = commands.add_parser(
        "sign", help="sign a JSON image list as detached S/MIME (as vmcaster does)"
    )
    sign.add_argument("input", help="the image list JSON (- for stdin)")
    sign.add_argument("-o", "--output", help="where to write the signed list (default stdout)")
    sign.add_argument("--cert", help="the endorser's PEM certificate")
    sign.add_argument("--key", help="the endorser's PEM private key")
    sign.add_argument(
        "--openpgp-key",
        metavar="FILE",
        help="also write OUTPUT.json (the signed JSON bytes) and OUTPUT.json.asc (a detached "
        "OpenPGP signature) with this armored secret key; passphrase in the file named by "
        f"${OPENPGP_PASSPHRASE_ENV}. Alone (no --cert/--key): only those two files",
    )
    sign.add_argument(
        "--digest",
        default="sha256",
        choices=["sha256", "sha384", "sha512", "sha1"],
        help="signature digest; sha1 only for subscribers that cannot do better (default sha256)",
    )
    sign.set_defaults(handler=_cmd_sign)

    verify = commands.add_parser(
        "verify", help="verify a signed list against an IGTF trust directory"
    )
    verify.add_argument("input", help="the signed image list (- for stdin)")
    verify.add_argument(
        "-c",
        "--cert-dir",
        help="trust directory (default $VMCATCHER_DIR_CERT, $X509_CERT_DIR, "
        "/etc/grid-security/certificates)",
    )
    add_crl_option(
        verify,
        help="require a current CRL for every CA of the path (default), or check if present",
    )
    add_key_policy_option(verify)
    verify.add_argument("--at", metavar="YYYY-MM-DDTHH:MM:SSZ", help="check at this time")
    verify.add_argument(
        "--ignore-dates", action="store_true", help="do not reject expired or future lists"
    )
    verify.add_argument("--payload", metavar="FILE", help="write the verified JSON text here")
    verify.add_argument(
        "--openpgp-cert",
        metavar="FILE",
        action="append",
        default=[],
        help="an OpenPGP certificate of the endorser (repeatable); checks INPUT.json and "
        "INPUT.json.asc beside INPUT",
    )
    verify.add_argument(
        "--signature-policy",
        choices=[policy.value for policy in SignaturePolicy],
        help="smime: S/MIME only (default without --openpgp-cert); smime+openpgp: both, and "
        "INPUT.json must be the S/MIME payload byte for byte (default with --openpgp-cert); "
        "openpgp: only INPUT.json (or INPUT itself if it ends in .json) and its .asc",
    )
    verify.add_argument(
        "-f",
        "--format",
        choices=["text", "json"],
        default="text",
        help="json: signer, list and images, or the error and its exit code, as one JSON "
        "document on stdout (docs/json-output.md)",
    )
    verify.set_defaults(handler=_cmd_verify)

    show = commands.add_parser(
        "show", help="print a list (signed or not) as normalised JSON, without verifying"
    )
    show.add_argument("input", help="the image list (- for stdin)")
    show.set_defaults(handler=_cmd_show)

    commands.add_parser(
        "status",
        help="the state of a subscriber site (as vmcatcher_status; see imagelist status --help)",
        add_help=False,
    )

    config = commands.add_parser(
        "config",
        help="print the effective site settings of the vmcatcher commands and where each comes "
        "from (option, environment, file, default)",
    )
    config.add_argument(
        "--config",
        metavar="FILE",
        help=f"site configuration file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG_PATH} "
        "if present)",
    )
    config.add_argument(
        "-f", "--format", choices=["text", "json"], default="text", help="output format"
    )
    config.set_defaults(handler=_cmd_config)
    add_oci_parser(commands)
    return parser


def _body(argv: Sequence[str]) -> int:
    args = parse_with_settings(build_parser(), argv)
    configure_logging(args.verbose, args.quiet, args.log_config)
    handler = args.handler
    result: int = handler(args)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imagelist`` command (``imagelist status`` is ``vmcatcher_status``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["status"]:
        from . import vmcatcher_status

        return vmcatcher_status.main(args[1:])
    return run_command("imagelist", _body, args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
