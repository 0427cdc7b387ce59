"""``imagelist oci describe`` and ``imagelist oci verify``: images in OCI registries (docs/oci.md).

``describe`` reads an image already in a registry once and prints the list entry an endorser
signs (``hv:uri`` pinned to the manifest digest, ``hv:size``, ``sl:checksum:sha512`` and the
fields EGI's annotations give); ``verify`` checks a cosign key-pair signature offline.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import ImageListError, UsageError
from ..fileio import link_new
from ._common import write_output
from ._settings import settings_of

if TYPE_CHECKING:  # the registry client (requests) is imported when an action runs, not for --help
    from ..document import Image
    from ..oci.access import RegistryAccess
    from ..oci.client import RegistryClient
    from ..oci.describe import LayerFacts
    from ..oci.reference import Reference

__all__ = ["OCI_EXIT_CODES", "add_oci_parser"]

OCI_EXIT_CODES = """\
exit codes: 0 done, 56 malformed or unpinned reference, 57 refused by the registry (401/403) or
unusable credentials file, 58 registry unreachable, 59 manifest not its digest, too large, an
index, no or several disk layers, 65 blob not its digest, 66 no cosign signature, 67 no valid
cosign signature, 68 signature older than --max-age, 78 unusable key or CA file, 1 usage.
"""


def _access(args: argparse.Namespace) -> RegistryAccess:
    from ..oci.access import RegistryAccess

    base = RegistryAccess.from_environment(settings_of(args).environ)
    plain = set(base.plain_http)
    if args.plain_http:
        plain.add(args.reference_parsed.registry)
    return RegistryAccess(
        Path(args.credentials) if args.credentials else base.credentials_file,
        Path(args.ca_bundle) if args.ca_bundle else base.ca_bundle,
        frozenset(plain),
    )


def _client(args: argparse.Namespace) -> RegistryClient:
    from ..oci.client import RegistryClient
    from ..oci.reference import parse_reference

    args.reference_parsed = parse_reference(args.reference, bare=True)
    return RegistryClient(args.reference_parsed.registry, _access(args))


def _save_layer(client: RegistryClient, reference: Reference, target: Path) -> LayerFacts:
    """Describe ``reference`` and save its layer as ``target``, a new name: the bytes go to a
    temporary file beside it, which becomes ``target`` only once they checked out; a failure
    leaves nothing, and nothing is written through a link planted at either name."""
    from ..oci.describe import describe_image

    if os.path.lexists(target):
        raise UsageError(f"{target} exists; not overwriting it")

    def save(sink: IO[bytes]) -> LayerFacts:
        return describe_image(client, reference, sink=sink)

    try:
        return link_new(target, save)
    except OSError as exc:  # a name that appeared meanwhile included: never written over
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None


def _cmd_describe(args: argparse.Namespace) -> int:
    from ..oci.describe import describe_image

    client = _client(args)
    try:
        if args.output:
            facts = _save_layer(client, args.reference_parsed, Path(args.output))
        else:
            facts = describe_image(client, args.reference_parsed)
    finally:
        client.close()
    document: dict[str, Any] = facts.image_fields()
    write_output(None, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..oci.cosign import load_public_key, verify_manifest

    if args.max_age is not None and args.max_age <= 0:
        raise UsageError("--max-age must be positive")
    key = load_public_key(Path(args.key))
    client = _client(args)
    try:
        reference = args.reference_parsed
        if not reference.pinned:
            manifest = client.get_manifest(reference.repository, reference.target)
            reference = reference.with_digest(manifest.digest)
        verdict = verify_manifest(
            client,
            reference,
            key,
            max_age=None if args.max_age is None else args.max_age * 86400,
        )
    finally:
        client.close()
    write_output(None, f"{reference.uri()}\tsigned\t{verdict.signed_at or '-'}\n")
    return 0


def _cmd_discover(args: argparse.Namespace) -> int:
    from ..oci.source import discover
    from ..site_config import load_site_config

    config = load_site_config(args.config, settings_of(args).environ)
    sources = [
        source for source in config.oci_sources if source.name in args.source or not args.source
    ]
    unknown = set(args.source) - {source.name for source in config.oci_sources}
    if unknown:
        raise UsageError(f"no registry source {sorted(unknown)[0]!r} in the site file")
    found_images: list[Image] = []
    failures: list[ImageListError] = []
    for source in sources:
        found, failed = discover(source)
        found_images += found
        failures += failed
    if args.as_list:
        if len(sources) != 1 or not args.list_uri:
            raise UsageError("--as-list needs exactly one source and --list-uri")
        from ..oci.listing import source_list

        days = sources[0].max_age_days or 7.0
        imagelist = source_list(
            sources[0].name, found_images, Path(args.as_list), args.list_uri, lifetime_days=days
        )
        write_output(None, imagelist.to_json_bytes().decode() + "\n")
    else:
        images = [image.to_dict() for image in found_images]
        write_output(None, json.dumps({"hv:images": images}, indent=2, sort_keys=True) + "\n")
    if failures:
        raise max(failures, key=lambda error: error.exit_code)
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reference", help="oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX] or HOST/REPO:TAG"
    )
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        help="TOML credentials file (default $IMAGELIST_OCI_CREDENTIALS)",
    )
    parser.add_argument(
        "--ca-bundle", metavar="FILE", help="CA bundle for https (default $IMAGELIST_OCI_CA_BUNDLE)"
    )
    parser.add_argument(
        "--plain-http", action="store_true", help="talk to this registry over plain http"
    )


def add_oci_parser(commands: Any) -> None:
    """Add ``oci describe`` and ``oci verify`` to the ``imagelist`` sub-commands."""
    oci = commands.add_parser(
        "oci",
        help="images in OCI registries: describe one for a list, verify a cosign signature",
        epilog=OCI_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = oci.add_subparsers(dest="oci_command", required=True, metavar="ACTION")
    describe = actions.add_parser(
        "describe",
        help="read the disk layer once; print the list entry (hv:uri pinned by digest, size, "
        "sha512, fields from the annotations)",
        epilog=OCI_EXIT_CODES,
    )
    _common(describe)
    describe.add_argument("-o", "--output", metavar="FILE", help="also save the layer here")
    describe.set_defaults(handler=_cmd_describe)
    verify = actions.add_parser(
        "verify",
        help="check the cosign key-pair signature (sha256-<hex>.sig) with a pinned public key",
        epilog=OCI_EXIT_CODES,
    )
    _common(verify)
    verify.add_argument("--key", required=True, metavar="PEM", help="the pinned cosign.pub")
    verify.add_argument(
        "--max-age", type=float, metavar="DAYS", help="refuse signatures older than this"
    )
    verify.set_defaults(handler=_cmd_verify)
    discover = actions.add_parser(
        "discover",
        help="list, verify (cosign-key) and describe the images of the site file's registry "
        "sources; print them as hv:image entries",
        epilog=OCI_EXIT_CODES,
    )
    discover.add_argument("source", nargs="*", help="source names (default: all)")
    discover.add_argument("--config", metavar="FILE", help="site configuration file")
    discover.add_argument(
        "--as-list",
        metavar="CERT",
        help="print a whole image list endorsed by this certificate (for imagelist sign)",
    )
    discover.add_argument("--list-uri", metavar="URL", help="the list's hv:uri (with --as-list)")
    discover.set_defaults(handler=_cmd_discover)
