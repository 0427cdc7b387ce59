"""vmcaster's actions as library functions: what each ``vmcaster --ACTION`` does, without argparse.

As twine does it: :mod:`imagelist.cli.vmcaster` parses the options, checks the selections and
prints; each action here takes plain values and a :class:`~.store.PublisherStore` and returns
what the command prints (lines, or one message). Nothing here reads the environment: the
caller passes ``environ`` where a transport or the signing credentials need it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import UsageError
from .kinds import KIND_NAMES, KINDS, Kind
from .rows import vmcaster_json
from .store import PublisherStore

if TYPE_CHECKING:
    from ..openpgp import SigningKey
    from ..verify import ListVerifier

# The actions import what they need when they run: listing keys should not load cryptography,
# and uploading an image should not load the signing code.

__all__ = [
    "KINDS",
    "KIND_NAMES",
    "delete_key",
    "delete_object",
    "download",
    "import_json_file",
    "import_legacy",
    "import_smime_file",
    "lifetime_days",
    "link",
    "linked",
    "list_keys",
    "list_objects",
    "set_key",
    "show_object",
    "unlink",
    "upload_image",
    "upload_imagelist",
    "verifier",
]

logger = logging.getLogger(__name__)

LinkKind = Literal["image", "endorser"]


# --- objects, keys and links ----------------------------------------------------------------------


def list_objects(store: PublisherStore, kind: Kind) -> list[str]:
    """Every identifier of ``kind`` (``--list-KIND``)."""
    return list(store.identifiers(kind))


def add_object(store: PublisherStore, kind: Kind, identifier: str) -> None:
    """Create the object (``--add-KIND``; no-op if it exists)."""
    store.add(kind, identifier)


def delete_object(store: PublisherStore, kind: Kind, identifier: str) -> None:
    """Delete the object with its keys and links (``--del-KIND``)."""
    store.delete(kind, identifier)


def show_object(store: PublisherStore, kind: Kind, identifier: str) -> str:
    """The object as vmcaster's JSON (``--show-KIND``)."""
    if kind == "imagelist":
        return vmcaster_json(store.show_imagelist(identifier))
    if kind == "image":
        return vmcaster_json(store.show_image(identifier))
    return vmcaster_json(store.show_endorser(identifier))


def list_keys(store: PublisherStore, kind: Kind, identifier: str) -> list[str]:
    """The metadata keys of the object, sorted (``--keys-KIND``)."""
    return sorted(store.keys(kind, identifier))


def set_key(store: PublisherStore, kind: Kind, identifier: str, key: str, value: str) -> None:
    """Set one metadata key (``--key-set-KIND``)."""
    store.set_key(kind, identifier, key, value)


def delete_key(store: PublisherStore, kind: Kind, identifier: str, key: str) -> None:
    """Delete one metadata key (``--key-del-KIND``)."""
    store.delete_key(kind, identifier, key)


def linked(store: PublisherStore, kind: LinkKind, imagelist: str) -> list[str]:
    """The images or endorsers linked to the list (``--imagelist-list-KIND``)."""
    return list(store.linked(kind, imagelist))


def link(store: PublisherStore, kind: LinkKind, imagelist: str, identifier: str) -> None:
    """Link an image or endorser to the list (``--imagelist-add-KIND``)."""
    store.link(kind, imagelist, identifier)


def unlink(store: PublisherStore, kind: LinkKind, imagelist: str, identifier: str) -> None:
    """Unlink an image or endorser from the list (``--imagelist-del-KIND``)."""
    store.unlink(kind, imagelist, identifier)


# --- imports --------------------------------------------------------------------------------------


def verifier(
    cert_dir: str | None, environ: Mapping[str, str], *, no_verify: bool = False
) -> ListVerifier | None:
    """The verifier for S/MIME imports (CRLs required), or None with ``--no-verify``; the trust
    directory is ``cert_dir``, else the one ``environ`` names."""
    if no_verify:
        return None
    from ..trust import CrlPolicy, TrustStore, default_trust_dir
    from ..verify import ListVerifier

    trust = TrustStore.load(cert_dir or default_trust_dir(environ))
    return ListVerifier(trust, crl_policy=CrlPolicy.REQUIRE)


def import_json_file(store: PublisherStore, path: Path) -> str:
    """Import an unsigned JSON list; the imported list's id (``--import-imagelist-json``)."""
    from .importing import import_json

    return import_json(store, path)


def import_smime_file(store: PublisherStore, path: Path, checker: ListVerifier | None) -> str:
    """Import a signed list after verifying it (``--import-imagelist-smime``)."""
    from .importing import import_smime

    return import_smime(store, path, checker)


def download(
    store: PublisherStore, imagelist: str, checker: ListVerifier | None, *, igtf_https: bool = True
) -> str:
    """Fetch the list from its ``hv:uri``, verify and import it (``--download-imagelist``);
    ``igtf_https``: the trust directory's CAs also verify https (``VMCATCHER_HTTPS_IGTF``)."""
    from .importing import download_imagelist

    return download_imagelist(store, imagelist, checker, igtf_https=igtf_https)


def import_legacy(store: PublisherStore, url: str) -> str:
    """Import a vmcaster 0.0.x database (``--import-legacy-db``); the summary line."""
    from ..db.publisher.legacy import import_legacy_database

    report = import_legacy_database(url, store.engine)
    return (
        f"imported {report.imagelists} image list(s), {report.images} image(s), "
        f"{report.endorsers} endorser(s), {report.keys} key(s), {report.links} link(s)"
        + (f"; skipped {len(report.skipped)} row(s)" if report.skipped else "")
    )


# --- uploads --------------------------------------------------------------------------------------


def lifetime_days(text: str | None) -> int:
    """Days a published list is valid: ``text`` as a whole number ≥ 1, default 28 (usage: 1)."""
    from .publish import DEFAULT_LIFETIME_DAYS

    if text is None:
        return DEFAULT_LIFETIME_DAYS
    try:
        days = int(text)
    except ValueError:
        raise UsageError(f"image list lifetime {text!r} is not a whole number of days") from None
    if days < 1:
        raise UsageError(f"image list lifetime {days} is too short: at least 1 day")
    return days


def upload_image(
    store: PublisherStore,
    image: str,
    path: Path,
    *,
    config_file: str | None,
    environ: Mapping[str, str],
    progress: Callable[[int], None] | None = None,
) -> str:
    """Publish ``path`` as the image's new file (``--upload-image``); the message to print."""
    from .config import load_config
    from .transports import interrupt_on_sigterm
    from .upload import upload_image as upload

    path = path.absolute()  # never "-X" or "--rsh=..." to a copy program
    config = load_config(config_file, environ)
    with interrupt_on_sigterm():
        result = upload(store, image, path, config, progress=progress, environ=environ)
    if result.unchanged:
        return f"image {image} unchanged (sha512 {result.digest.sha512[:16]}...)"
    return (
        f"image {image} version {result.version}: {result.digest.size} bytes, "
        f"published at {result.uri}"
    )


def upload_imagelist(
    store: PublisherStore,
    identifier: str,
    *,
    config_file: str | None,
    x509_cert: str | None,
    x509_key: str | None,
    x509_dir: str | None,
    lifetime: int,
    digest: str,
    allow_open_key: bool,
    environ: Mapping[str, str],
    openpgp_key: SigningKey | None = None,
    openpgp_loader: Callable[[str], SigningKey] | None = None,
) -> str:
    """Sign the list and publish it (``--upload-imagelist``); the message to print.

    ``openpgp_key``: also publish ``.json`` and ``.json.asc`` beside the list (ADR 21);
    ``openpgp_loader`` loads the key a vmcaster.cfg section names (``openpgpKey``) otherwise.
    """
    from .config import load_config
    from .credentials import default_passphrase, resolve_paths
    from .publish import upload_imagelist as publish
    from .transports import interrupt_on_sigterm

    config = load_config(config_file, environ)
    paths = resolve_paths(cert=x509_cert, key=x509_key, directory=x509_dir, environ=environ)
    with interrupt_on_sigterm():
        publication = publish(
            store,
            identifier,
            config,
            paths,
            default_passphrase(environ, allow_open=allow_open_key),
            lifetime_days=lifetime,
            digest=digest,
            environ=environ,
            allow_open_key=allow_open_key,
            openpgp_key=openpgp_key,
            openpgp_loader=openpgp_loader,
        )
    message = (
        f"image list {identifier} version {publication.version} published at "
        f"{publication.uri}, expires {publication.expires:%Y-%m-%dT%H:%M:%SZ}"
    )
    if publication.openpgp is not None:
        message += f", with .json and .json.asc (OpenPGP {publication.openpgp})"
    receipt = publication.receipt
    if receipt is not None:  # protocol marketplace: what the marketplace made of it
        message = (
            f"image list {identifier} version {publication.version} imported by the "
            f"marketplace as version {receipt.get('version', '?')!s} of appliance "
            f"{receipt.get('appliance', '?')!s} (id {receipt.get('id', '?')!s}, state "
            f"{receipt.get('state', '?')!s}): {receipt.get('url', '?')!s}"
        )
    return " ".join(message.split())
