"""``image.list.json`` and ``image.list.json.asc`` beside ``image.list`` (ADR 0021).

``image.list`` stays the S/MIME message old clients read. Beside it a publisher with an OpenPGP
key puts ``image.list.json``, the exact bytes the S/MIME signature covers (the JSON in canonical
CRLF form, without the last line end: :func:`imagelist.smime.signed_content`), and
``image.list.json.asc``, an armored detached OpenPGP signature over those bytes.

A subscription's signature policy says what a subscriber checks:

* ``smime`` (default): ``image.list`` only, as before; the companions are never fetched;
* ``smime+openpgp``: ``image.list`` as before, **and** ``image.list.json`` must be byte for byte
  the S/MIME payload (exit 63) **and** its OpenPGP signature must verify against a certificate
  of the endorser (exits 60-62); a missing companion is exit 64;
* ``openpgp`` (an endorser outside the IGTF): only ``image.list.json`` and its signature; the
  ``.json`` is then parsed as the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .document import ImageList
from .errors import OpenPGPPayloadMismatchError
from .openpgp import Certificate, SigningKey, VerifiedSignature, sign_detached, verify_detached
from .signature_policy import SignaturePolicy
from .smime import read_signed, signed_content

__all__ = [
    "JSON_SUFFIX",
    "SIGNATURE_SUFFIX",
    "Companions",
    "SignaturePolicy",
    "check_payload",
    "companion_names",
    "is_openpgp_only",
    "make_companions",
    "stored_payload",
    "verify_companion_signature",
    "verify_openpgp_list",
]

#: ``image.list`` → ``image.list.json`` (the signed JSON bytes).
JSON_SUFFIX = ".json"
#: ``image.list`` → ``image.list.json.asc`` (the armored detached OpenPGP signature).
SIGNATURE_SUFFIX = ".json.asc"


def companion_names(name: str) -> tuple[str, str]:
    """The two companions of a list file or URL: ``(name.json, name.json.asc)``."""
    return name + JSON_SUFFIX, name + SIGNATURE_SUFFIX


@dataclass(frozen=True)
class Companions:
    """The bytes of ``image.list.json`` and ``image.list.json.asc``."""

    json: bytes
    signature: bytes


def make_companions(payload: bytes, key: SigningKey, *, now: datetime | None = None) -> Companions:
    """Sign the bytes the S/MIME signature of ``payload`` covers, with ``key``."""
    content = signed_content(payload)
    return Companions(content, sign_detached(content, key, now=now))


def check_payload(json: bytes, smime_payload: bytes) -> None:
    """``image.list.json`` must be byte for byte what the S/MIME signature covers (exit 63)."""
    if json == smime_payload:
        return
    at = next(
        (i for i, (a, b) in enumerate(zip(json, smime_payload, strict=False)) if a != b),
        min(len(json), len(smime_payload)),
    )
    raise OpenPGPPayloadMismatchError(
        f"image.list.json ({len(json)} bytes) is not the S/MIME-signed payload "
        f"({len(smime_payload)} bytes): they differ from byte {at}"
    )


def is_openpgp_only(stored: bytes) -> bool:
    """Whether a stored accepted list is a ``.json`` accepted under the ``openpgp`` policy."""
    return stored.lstrip()[:1] == b"{"


def stored_payload(stored: bytes) -> bytes:
    """The JSON of a stored accepted list: the S/MIME payload (its signature value checked
    again), or, under the ``openpgp`` policy, the stored ``.json`` itself."""
    return stored if is_openpgp_only(stored) else read_signed(stored).payload


def verify_companion_signature(
    json: bytes,
    signature: bytes,
    certificates: Sequence[Certificate],
    *,
    smime_payload: bytes | None = None,
    now: datetime | None = None,
) -> VerifiedSignature:
    """Check the companions: the payload first (63), then the signature (60-62, 64)."""
    if smime_payload is not None:
        check_payload(json, smime_payload)
    return verify_detached(json, signature, certificates, now=now)


def verify_openpgp_list(
    json: bytes,
    signature: bytes,
    certificates: Sequence[Certificate],
    *,
    now: datetime | None = None,
) -> tuple[ImageList, VerifiedSignature]:
    """Policy ``openpgp``: check the signature and parse the ``.json`` as the list."""
    verified = verify_companion_signature(json, signature, certificates, now=now)
    return ImageList.from_bytes(json), verified
