"""Bringing existing lists into the database: JSON, S/MIME files and the published copy.

``--import-imagelist-smime`` and ``--download-imagelist`` verify the signature and the signer
against the IGTF trust directory (vmcaster 0.0.x did not verify S/MIME imports, defect D18);
``verify=None`` skips that, and is logged as a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..document.guards import decode
from ..errors import (
    DocumentError,
    FetchError,
    ImportDocumentError,
    ImportNullError,
    ListDownloadError,
    NullListError,
    UsageError,
)
from ..fetch import Fetcher, FetchLimits
from ..fetch_limits import DEFAULT_MAX_BYTES
from ..smime import read_signed
from ..trust import TrustStore
from ..verify import ListVerifier
from .store import PublisherStore

__all__ = [
    "MAX_LIST_BYTES",
    "download_imagelist",
    "fetch_bytes",
    "import_json",
    "import_smime",
    "parse_json",
]

logger = logging.getLogger(__name__)

#: The largest list accepted from a file or a server: the package's one list size cap.
MAX_LIST_BYTES = DEFAULT_MAX_BYTES


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_LIST_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_LIST_BYTES:
        raise UsageError(f"{path} is larger than {MAX_LIST_BYTES} bytes: not an image list")
    return data


def parse_json(data: bytes, where: str) -> dict[str, Any]:
    """Decode a JSON list with the package's one hardened reader
    (:func:`imagelist.document.guards.decode`: UTF-8, a BOM, no NaN, 64-bit integers, bounded
    depth, no lone surrogates, an object); invalid JSON exits 20 and ``null`` 21, as vmcaster."""
    try:
        return decode(data)
    except NullListError:
        raise ImportNullError(f"{where} holds no JSON content (null)") from None
    except DocumentError as exc:
        raise ImportDocumentError(f"{where} is not valid JSON ({exc})") from None


def import_json(store: PublisherStore, path: Path) -> str:
    """``--import-imagelist-json FILE``: import an unsigned ``{"hv:imagelist": ...}``."""
    return store.import_document(parse_json(_read(path), str(path)))


def _verified_payload(data: bytes, where: str, verifier: ListVerifier | None) -> bytes:
    if verifier is None:
        logger.warning("%s: signature NOT verified (--no-verify)", where)
        return read_signed(data).payload
    verified = verifier.verify(data)
    logger.info("%s: signed by %s", where, verified.signer_dn)
    return verified.payload


def import_smime(store: PublisherStore, path: Path, verifier: ListVerifier | None) -> str:
    """``--import-imagelist-smime FILE``: verify (unless ``verifier`` is None), then import."""
    payload = _verified_payload(_read(path), str(path), verifier)
    return store.import_document(parse_json(payload, str(path)))


def fetch_bytes(uri: str, store: TrustStore | None = None, *, igtf_https: bool = True) -> bytes:
    """GET a list from ``http(s)://`` or ``file://`` through the shared fetcher: https verified
    against the system CAs and ``store`` (unless not ``igtf_https``), timeouts, the size cap,
    safe redirects (exit 22)."""
    limits = FetchLimits(max_bytes=MAX_LIST_BYTES)
    try:
        with Fetcher(store, limits=limits, igtf_https=igtf_https) as fetcher:
            result = fetcher.fetch(uri)
    except FetchError as exc:
        raise ListDownloadError(str(exc)) from None
    return result.data or b""


def download_imagelist(
    store: PublisherStore,
    identifier: str,
    verifier: ListVerifier | None,
    *,
    igtf_https: bool = True,
) -> str:
    """``--download-imagelist``: fetch the list's ``hv:uri``, verify, import."""
    uri = store.get_key("imagelist", identifier, "hv:uri")
    if not uri:
        raise UsageError(f"image list {identifier} has no hv:uri to download from")
    trust = verifier.store if verifier is not None else None
    payload = _verified_payload(fetch_bytes(uri, trust, igtf_https=igtf_https), uri, verifier)
    document = parse_json(payload, uri)
    body = document.get("hv:imagelist")
    imported = body.get("dc:identifier") if isinstance(body, dict) else None
    if imported != identifier:
        raise ImportDocumentError(f"{uri} holds image list {imported!r}, not {identifier!r}")
    return store.import_document(document)
