"""S/MIME (CMS/PKCS#7) signing and signature checking for image lists.

The old tools wrote clear-signed, detached ``multipart/signed`` messages whose first part is the
JSON text with CRLF line ends (reference §1.4). This module writes the same layout and reads it
back, plus the opaque ``application/pkcs7-mime`` form that ``openssl smime -sign -nodetach`` makes.

``cryptography`` can sign PKCS#7 but not with SHA-1 (which old subscribers need) and cannot verify
it at all, so the CMS structures are built and parsed with ``asn1crypto`` and only the digest and
public-key operations come from ``cryptography``. No subprocess is used.

This module checks the *signature*: that exactly one signer signed exactly these bytes. Whether the
signer is trusted is the business of :mod:`imagelist.trust`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from .errors import MimeFormatError, SignatureError, SignerCountError, UsageError
from .smime_mime import canonical_part, cms_blob

__all__ = [
    "DIGESTS",
    "SignedMessage",
    "canonicalize_crlf",
    "read_signed",
    "sign_detached",
    "signed_content",
    "stored_signer",
]

logger = logging.getLogger(__name__)

#: Digest names accepted for signing and verification, keyed by their S/MIME ``micalg`` name.
DIGESTS: dict[str, str] = {
    "sha1": "sha1",
    "sha-224": "sha224",
    "sha-256": "sha256",
    "sha-384": "sha384",
    "sha-512": "sha512",
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_MICALG = {value: key for key, value in DIGESTS.items()}
_CACHED_CERTIFICATE_BYTES = 16384


@dataclass(frozen=True)
class SignedMessage:
    """A message whose CMS signature checked out.

    ``payload`` is exactly the signed bytes (for a clear-signed message: the first MIME part in
    canonical CRLF form); ``signer`` is the certificate of the one signer; ``certificates`` are all
    certificates the message carried (candidates for intermediates, never trusted by themselves).
    """

    payload: bytes
    signer: x509.Certificate
    certificates: tuple[x509.Certificate, ...]
    digest_algorithm: str
    signing_time: datetime | None
    detached: bool


# --- writing -------------------------------------------------------------------------------------


def canonicalize_crlf(text: bytes) -> bytes:
    """Convert every line end (LF, CRLF, or trailing CRs) to CRLF, as OpenSSL's text mode does."""
    crlf = text.count(b"\r\n")
    if text.count(b"\n") == crlf and text.count(b"\r") == crlf:
        return text  # already canonical: every CR and every LF belong to a CRLF
    return b"\r\n".join(line.rstrip(b"\r") for line in text.split(b"\n"))


def signed_content(payload: bytes) -> bytes:
    """The exact bytes :func:`sign_detached` signs for ``payload``: CRLF line ends, no last one.

    (``image.list.json`` beside an S/MIME list holds these bytes; ADR 0021.)
    """
    content = canonicalize_crlf(payload)
    if content.endswith(b"\r\n"):
        # The last line end belongs to the MIME framing, not to the signed content.
        content = content[:-2]
    return content


def sign_detached(
    payload: bytes,
    certificate: x509.Certificate,
    private_key: PrivateKeyTypes,
    *,
    digest: str = "sha256",
    signing_time: datetime | None = None,
) -> bytes:
    """Sign ``payload`` as a detached ``multipart/signed`` S/MIME message, as vmcaster wrote it.

    The content is canonicalised to CRLF and signed in that form; the CMS blob carries only the
    signer certificate. ``digest`` is ``sha256`` (default) or ``sha1`` for old subscribers,
    or ``sha384``/``sha512``.
    """
    if digest not in _HASHES:
        raise UsageError(f"unsupported signature digest {digest!r}: use one of {sorted(_HASHES)}")
    content = signed_content(payload)
    blob = _signed_data(content, certificate, private_key, digest, signing_time)
    boundary = "----" + secrets.token_hex(16).upper()
    encoded = base64.encodebytes(blob).decode("ascii")
    header = (
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
        f'micalg="{_MICALG[digest]}"; boundary="{boundary}"\n'
        "\n"
        "This is an S/MIME signed message\n"
        "\n"
        f"--{boundary}\n"
    )
    trailer = (
        f"\r\n--{boundary}\n"
        'Content-Type: application/pkcs7-signature; name="smime.p7s"\n'
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="smime.p7s"\n'
        "\n"
        f"{encoded}\n"
        f"--{boundary}--\n"
        "\n"
    )
    return header.encode("ascii") + content + trailer.encode("ascii")


def _signed_data(
    content: bytes,
    certificate: x509.Certificate,
    private_key: PrivateKeyTypes,
    digest: str,
    signing_time: datetime | None,
) -> bytes:
    cert_der = certificate.public_bytes(Encoding.DER)
    asn1_cert = asn1_x509.Certificate.load(cert_der)
    when = signing_time or datetime.now(UTC)
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute(
                {"type": "signing_time", "values": [cms.Time({"utc_time": when.astimezone(UTC)})]}
            ),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [hashlib.new(digest, content).digest()]}
            ),
            cms.CMSAttribute(
                {
                    "type": "smime_capabilities",
                    "values": [
                        [
                            {"capability_id": "2.16.840.1.101.3.4.1.42"},  # aes256-CBC
                            {"capability_id": "2.16.840.1.101.3.4.1.2"},  # aes128-CBC
                        ]
                    ],
                }
            ),
        ]
    )
    to_sign = _attributes_as_set(signed_attrs)
    hash_algorithm = _HASHES[digest]()
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(to_sign, padding.PKCS1v15(), hash_algorithm)
        signature_algorithm = "rsassa_pkcs1v15"
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        signature = private_key.sign(to_sign, ec.ECDSA(hash_algorithm))
        signature_algorithm = f"{digest}_ecdsa"
    else:
        raise UsageError("only RSA and EC keys can sign image lists")
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": asn1_cert.issuer,
                        "serial_number": asn1_cert.serial_number,
                    }
                }
            ),
            "digest_algorithm": {"algorithm": digest},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": signature_algorithm},
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": digest}],
            "encap_content_info": {"content_type": "data"},
            "certificates": [asn1_cert],
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def _attributes_as_set(attrs: cms.CMSAttributes) -> bytes:
    """DER of the signed attributes with the universal SET tag, which is what gets signed."""
    der = bytes(attrs.dump(force=False))
    # Tagged [0] IMPLICIT inside SignerInfo; signed and digested as a SET OF (tag 0x31).
    return b"\x31" + der[1:]


# --- reading -------------------------------------------------------------------------------------


def read_signed(message: bytes) -> SignedMessage:
    """Parse an S/MIME message and check its CMS signature.

    Accepts detached ``multipart/signed`` (``application/pkcs7-signature`` or
    ``application/x-pkcs7-signature``) and opaque ``application/pkcs7-mime``. Raises
    :class:`~imagelist.errors.MimeFormatError` for malformed input,
    :class:`~imagelist.errors.SignerCountError` unless there is exactly one signer, and
    :class:`~imagelist.errors.SignatureError` when digest or signature do not match.
    """
    blob, content = cms_blob(message)
    return _verify_cms(blob, detached_content=content)


def stored_signer(message: bytes) -> x509.Certificate:
    """The signer certificate of a signed list that was verified when it was accepted.

    For reports only (status, expiry alarms): the signature is *not* checked again, so this
    must never decide whether a list is trusted; :func:`read_signed` does that. About ten times
    cheaper than :func:`read_signed`, which matters when every ``-U`` reports on every list.
    """
    blob, _content = cms_blob(message)
    try:
        signed_data = cms.ContentInfo.load(blob, strict=True)["content"]
        signer_infos = list(signed_data["signer_infos"])
        if len(signer_infos) != 1:
            raise SignerCountError(
                f"signature has {len(signer_infos)} signers, exactly one is required"
            )
        return _find_signer(signer_infos[0], _certificates(signed_data["certificates"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise MimeFormatError(f"signature is not a valid PKCS#7 structure: {exc}") from None


def _verify_cms(blob: bytes, detached_content: bytes | None) -> SignedMessage:
    try:
        content_info = cms.ContentInfo.load(blob, strict=True)
        if content_info["content_type"].native != "signed_data":
            raise MimeFormatError(
                f"PKCS#7 content is {content_info['content_type'].native!r}, expected signed data"
            )
        signed_data = content_info["content"]
        signer_infos = list(signed_data["signer_infos"])
        certificates = _certificates(signed_data["certificates"])
        encap = signed_data["encap_content_info"]
        embedded = encap["content"]
        encap_type = encap["content_type"].dotted
        embedded_bytes = None if embedded.native is None else bytes(embedded.native)
    except ValueError as exc:
        raise MimeFormatError(f"signature is not a valid PKCS#7 structure: {exc}") from None
    if detached_content is None:
        if embedded_bytes is None:
            raise MimeFormatError("opaque PKCS#7 message carries no content")
        payload = embedded_bytes
    else:
        if embedded_bytes is not None:
            raise MimeFormatError("multipart/signed message also embeds content in its PKCS#7")
        payload = detached_content
    if len(signer_infos) != 1:
        raise SignerCountError(
            f"signature has {len(signer_infos)} signers, exactly one is required"
        )
    signer_info = signer_infos[0]
    try:
        signer = _find_signer(signer_info, certificates)
        canonical = None if detached_content is None else canonical_part
        payload, digest, signing_time = _check_signer_info(
            signer_info, signer, payload, encap_type, canonical
        )
    except ValueError as exc:
        raise MimeFormatError(f"signer information is malformed: {exc}") from None
    return SignedMessage(
        payload=payload,
        signer=signer,
        certificates=tuple(certificate for _, certificate in certificates),
        digest_algorithm=digest,
        signing_time=signing_time,
        detached=detached_content is not None,
    )


def _certificates(choices: Iterable[Any] | None) -> list[tuple[Any, x509.Certificate]]:
    """Each certificate of the message: as asn1crypto parsed it there, and as cryptography's."""
    found: list[tuple[Any, x509.Certificate]] = []
    for choice in choices or ():
        if choice.name != "certificate":
            continue
        found.append((choice.chosen, _load_certificate(choice.chosen.dump())))
    return found


def _load_certificate(der: bytes) -> x509.Certificate:
    """The certificate of these exact bytes; the same (immutable) object each time for a
    certificate seen recently, so what cryptography parses lazily (extensions, key) is parsed
    once: a signer signs many lists. Nothing is decided here; every check runs on every use."""
    if len(der) <= _CACHED_CERTIFICATE_BYTES:
        return _cached_certificate(der)
    return x509.load_der_x509_certificate(der)


@functools.lru_cache(maxsize=256)
def _cached_certificate(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def _find_signer(
    signer_info: Any, certificates: list[tuple[Any, x509.Certificate]]
) -> x509.Certificate:
    sid = signer_info["sid"]
    for asn1_cert, certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            # Names compared as encoded bytes: parsing them could fail on unusual string types.
            if (
                asn1_cert.serial_number == wanted["serial_number"].native
                and asn1_cert["tbs_certificate"]["issuer"].dump() == wanted["issuer"].dump()
            ):
                return certificate
        elif sid.name == "subject_key_identifier" and asn1_cert.key_identifier == sid.chosen.native:
            return certificate
    raise SignerCountError("signature carries no certificate for its signer (no keys found)")


def _check_signer_info(
    signer_info: Any,
    signer: x509.Certificate,
    payload: bytes,
    encap_type: str,
    canonical: Callable[[bytes], bytes] | None,
) -> tuple[bytes, str, datetime | None]:
    """Check digest and signature; returns the signed bytes, the digest name and signing time.

    A clear-signed part is first hashed as it is in the file, which is already canonical CRLF
    in every list the old tools or OpenSSL wrote; only if that does not match is its canonical
    form (``canonical``) tried, which is what OpenSSL hashes.
    """
    digest = signer_info["digest_algorithm"]["algorithm"].native
    if digest not in _HASHES:
        raise SignatureError(f"signature uses an unsupported digest algorithm {digest!r}")
    signed_attrs = signer_info["signed_attrs"]
    signing_time: datetime | None = None
    if signed_attrs.native is None or len(signed_attrs) == 0:
        if encap_type != "1.2.840.113549.1.7.1":
            raise SignatureError("signature without signed attributes over non-data content")
        if canonical is not None:
            payload = canonical(payload)
        signed_bytes = payload
    else:
        attributes = {attr["type"].native: attr["values"] for attr in signed_attrs}
        if "message_digest" not in attributes or "content_type" not in attributes:
            raise SignatureError("signature lacks the message-digest or content-type attribute")
        if attributes["content_type"][0].dotted != encap_type:
            raise SignatureError("signed content-type attribute does not match the content")
        expected = attributes["message_digest"][0].native
        matches = hashlib.new(digest, payload).digest() == expected
        if not matches and canonical is not None:
            payload = canonical(payload)
            matches = hashlib.new(digest, payload).digest() == expected
        if not matches:
            raise SignatureError("content digest does not match the signature (content altered?)")
        if "signing_time" in attributes:
            signing_time = attributes["signing_time"][0].native
        signed_bytes = _attributes_as_set(signed_attrs)
    _check_signature_value(signer_info, signer, signed_bytes, digest)
    return payload, digest, signing_time


def _check_signature_value(
    signer_info: Any, signer: x509.Certificate, signed_bytes: bytes, digest: str
) -> None:
    algorithm: algos.SignedDigestAlgorithm = signer_info["signature_algorithm"]
    name = algorithm.signature_algo
    signature = bytes(signer_info["signature"].native)
    hash_algorithm = _HASHES[digest]()
    try:
        public_key = signer.public_key()
        if name == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, signed_bytes, padding.PKCS1v15(), hash_algorithm)
        elif name == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
            params = algorithm["parameters"]
            pss_hash = _HASHES.get(params["hash_algorithm"]["algorithm"].native)
            if pss_hash is None:
                raise SignatureError("RSA-PSS signature uses an unsupported hash")
            pss = padding.PSS(
                mgf=padding.MGF1(pss_hash()), salt_length=int(params["salt_length"].native)
            )
            public_key.verify(signature, signed_bytes, pss, pss_hash())
        elif name == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed_bytes, ec.ECDSA(hash_algorithm))
        elif name == "ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, signed_bytes)
        else:
            raise SignatureError(
                f"signature algorithm {name!r} does not fit the signer's "
                f"{type(public_key).__name__}"
            )
    except InvalidSignature:
        raise SignatureError("signature value does not verify with the signer's key") from None
    except UnsupportedAlgorithm as exc:
        raise SignatureError(f"signer's public key cannot be used: {exc}") from None
