"""The OpenPGP step of a subscription whose signature policy asks for it (ADR 0021).

``smime+openpgp``: after the S/MIME list verified, fetch ``<uri>.json`` and ``<uri>.json.asc``,
check that the ``.json`` is byte for byte the S/MIME payload (63) and that the signature verifies
against a certificate of an endorser linked to the subscription (60-62). ``openpgp``: fetch the
two companions only (the ``.json`` with the subscription's HTTP validators) and parse the
``.json`` as the list. A companion that cannot be fetched is exit 64.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..companions import companion_names, verify_companion_signature, verify_openpgp_list
from ..document import ImageList
from ..errors import FetchError, OpenPGPMaterialError
from ..fetch import Fetcher, FetchResult, redact_url
from ..openpgp import Certificate, VerifiedSignature

__all__ = [
    "fetch_companion",
    "fetch_signature",
    "verify_beside_smime",
    "verify_companions",
]


def fetch_companion(
    fetcher: Fetcher,
    url: str,
    *,
    username: str | None,
    password: str | None,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """Fetch a companion file; a failure is exit 64 naming it (not 10: the list itself is there)."""
    try:
        return fetcher.fetch(
            url, username=username, password=password, etag=etag, last_modified=last_modified
        )
    except FetchError as exc:
        raise OpenPGPMaterialError(
            f"cannot fetch {redact_url(url)} (signature policy needs it): {exc}"
        ) from None


def fetch_signature(
    fetcher: Fetcher, uri: str, *, username: str | None, password: str | None
) -> tuple[bytes, bytes]:
    """``<uri>.json`` and ``<uri>.json.asc`` (both unconditionally)."""
    json_url, asc_url = companion_names(uri)
    found = []
    for url in (json_url, asc_url):
        result = fetch_companion(fetcher, url, username=username, password=password)
        if result.data is None:  # pragma: no cover - no validators were sent
            raise OpenPGPMaterialError(f"{redact_url(url)} sent nothing")
        found.append(result.data)
    return found[0], found[1]


def _pairs(certificates: Sequence[tuple[Certificate, int]]) -> list[Certificate]:
    if not certificates:
        raise OpenPGPMaterialError(
            "no OpenPGP certificate of an endorser (linked to this subscription) is registered "
            "(vmcatcher_endorser --create -e ID --openpgp-cert FILE)"
        )
    return [cert for cert, _ in certificates]


def _link(certificates: Sequence[tuple[Certificate, int]], signed: VerifiedSignature) -> int:
    return next(link for cert, link in certificates if cert.fingerprint == signed.fingerprint)


def verify_companions(
    json: bytes,
    signature: bytes,
    certificates: Sequence[tuple[Certificate, int]],
    *,
    now: datetime,
) -> tuple[ImageList, VerifiedSignature, int]:
    """Policy ``openpgp``: verify against the (certificate, link) pairs and parse the list."""
    imagelist, signed = verify_openpgp_list(json, signature, _pairs(certificates), now=now)
    return imagelist, signed, _link(certificates, signed)


def verify_beside_smime(
    json: bytes,
    signature: bytes,
    certificates: Sequence[tuple[Certificate, int]],
    *,
    smime_payload: bytes,
    now: datetime,
) -> tuple[VerifiedSignature, int]:
    """Policy ``smime+openpgp``: the .json is the S/MIME payload (not parsed again) and its
    signature verifies; returns the signature and the link of the certificate that made it."""
    signed = verify_companion_signature(
        json, signature, _pairs(certificates), smime_payload=smime_payload, now=now
    )
    return signed, _link(certificates, signed)
