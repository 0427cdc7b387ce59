"""Detached OpenPGP signatures beside S/MIME (ADR 0021): the one module that uses pysequoia.

``image.list.json`` (the exact JSON bytes the S/MIME signature covers) is signed with an armored
detached OpenPGP signature, ``image.list.json.asc``. This module signs with a secret key file and
verifies against one or more certificates; nothing else in imagelist imports pysequoia.

What pysequoia (0.1.35) checks, and what we add explicitly
-----------------------------------------------------------
:func:`pysequoia.verify` runs Sequoia's streaming verifier under its standard policy: the
signature must be cryptographically valid over the bytes, made by a component key of a supplied
certificate whose binding is valid, alive and signing-capable **at the signature's creation
time**, with an acceptable hash (no MD5; SHA-1 refused for data signatures), and not hard-revoked.
Evaluating at the signature's time means a signature made before the key expired, before a soft
revocation or before the signing flag was withdrawn still verifies; and on any failure pysequoia
says only "no valid signatures found". So, before handing the bytes to Sequoia, we check the
certificates **now** ourselves and fail with our own codes:

* the signature is one packet of type *binary document* (a text-mode signature would accept
  other line ends, so not the same bytes), with an issuer we can match;
* the issuer is a key of one of the given certificates (else exit 61);
* that certificate is not revoked (any reason: ``Cert.is_revoked``) and not expired
  (``Cert.expiration``), both evaluated now by Sequoia;
* the signing key itself (the primary or a subkey; pysequoia has no API for subkeys, so we read
  the certificate's packets): the newest self-signature binding it carries the *signing* key flag,
  it has no revocation signature and its validity period has not passed (exit 62).

These packet-level checks read the signatures of the certificate an administrator supplied
(trusted material) without re-checking them cryptographically; they can only refuse more than
Sequoia does, never accept what Sequoia refuses, because Sequoia's verification runs afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pysequoia
from pysequoia.packet import Packet, PacketPile, SignatureType, Tag

from .errors import (
    OpenPGPCertificateError,
    OpenPGPMaterialError,
    OpenPGPSignatureError,
    OpenPGPSignerUnknownError,
)

__all__ = [
    "Certificate",
    "SigningKey",
    "VerifiedSignature",
    "load_certificates",
    "read_certificates",
    "sign_detached",
    "verify_detached",
]

logger = logging.getLogger(__name__)

#: Largest certificate or key file we read (a certificate with many signatures is a few 100 KiB).
MAX_KEY_FILE = 4 * 1024 * 1024
#: Largest detached signature we parse (an armored signature is well under 2 KiB).
MAX_SIGNATURE = 64 * 1024

_SELF_SIGNATURES = (
    SignatureType.DirectKey,
    SignatureType.PositiveCertification,
    SignatureType.GenericCertification,
    SignatureType.CasualCertification,
    SignatureType.PersonaCertification,
)


def _reason(exc: BaseException) -> str:
    """pysequoia's message without the Rust backtrace it may append: one short line."""
    text = str(exc).strip().splitlines()
    return " ".join(text[0].split()) if text else type(exc).__name__


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


@dataclass(frozen=True)
class _KeyState:
    """What a certificate's packets say about one of its keys."""

    fingerprint: str
    key_id: str
    created: datetime | None
    signing: bool
    validity: timedelta | None
    revoked: bool


def _key_states(cert: pysequoia.Cert, packets: Sequence[Packet]) -> list[_KeyState]:
    """The primary key and each subkey with their newest binding's flags and validity."""
    states: list[_KeyState] = []
    current: dict[str, object] | None = None
    primary = cert.fingerprint

    def close() -> None:
        if current is not None:
            states.append(
                _KeyState(
                    fingerprint=str(current["fingerprint"]),
                    key_id=str(current["key_id"]),
                    created=current["created"],  # type: ignore[arg-type]
                    signing=bool(current["signing"]),
                    validity=current["validity"],  # type: ignore[arg-type]
                    revoked=bool(current["revoked"]),
                )
            )

    for packet in packets:
        tag = packet.tag
        if tag in (Tag.PublicKey, Tag.PublicSubkey, Tag.SecretKey, Tag.SecretSubkey):
            close()
            current = {
                "fingerprint": packet.fingerprint or "",
                "key_id": packet.key_id or "",
                "created": packet.key_created,
                "signing": False,
                "validity": None,
                "revoked": False,
                "newest": None,
                "subkey": tag in (Tag.PublicSubkey, Tag.SecretSubkey),
            }
            continue
        if tag != Tag.Signature or current is None:
            continue
        kind = packet.signature_type
        if packet.issuer_fingerprint not in (None, primary):
            continue  # a third-party certification says nothing about the key's use
        if kind in (SignatureType.SubkeyRevocation, SignatureType.KeyRevocation):
            current["revoked"] = True
            continue
        binding = (
            kind == SignatureType.SubkeyBinding if current["subkey"] else kind in _SELF_SIGNATURES
        )
        if not binding or packet.key_flags is None:
            continue
        created = packet.signature_created
        newest = current["newest"]
        if newest is not None and created is not None and created < newest:  # type: ignore[operator]
            continue
        current["newest"] = created
        current["signing"] = packet.key_flags.signing
        current["validity"] = packet.key_validity_period
    close()
    return states


class Certificate:
    """An OpenPGP certificate (public key) an endorser signs with."""

    def __init__(self, cert: pysequoia.Cert, *, source: str = "certificate") -> None:
        packets = list(PacketPile.from_bytes(bytes(cert)))  # public packets only
        self._cert = cert
        self.source = source
        self.keys = tuple(_key_states(cert, packets))

    @property
    def fingerprint(self) -> str:
        """The primary key's fingerprint, upper-case hex (as gpg prints it)."""
        return self._cert.fingerprint.upper()

    @property
    def armored(self) -> str:
        """The certificate, ASCII-armored (what the database stores)."""
        return str(self._cert)

    @property
    def user_ids(self) -> list[str]:
        return [str(uid) for uid in self._cert.user_ids]

    @property
    def expiration(self) -> datetime | None:
        return self._cert.expiration

    def key_for(self, issuer: str) -> _KeyState | None:
        """The key of this certificate with fingerprint or key id ``issuer`` (lower-case hex)."""
        for key in self.keys:
            if issuer in (key.fingerprint, key.key_id):
                return key
        return None

    def check_usable(self, key: _KeyState, *, now: datetime | None = None) -> None:
        """Raise :class:`OpenPGPCertificateError` unless ``key`` may sign now (module doc)."""
        when = _now(now)
        name = f"OpenPGP certificate {self.fingerprint}"
        if self._cert.is_revoked:
            raise OpenPGPCertificateError(f"{name} is revoked")
        expiration = self._cert.expiration
        if expiration is not None and expiration <= when:
            raise OpenPGPCertificateError(f"{name} expired at {expiration:%Y-%m-%dT%H:%M:%SZ}")
        what = "its primary key" if key.fingerprint == self._cert.fingerprint else "subkey"
        shown = f"{what} {key.fingerprint.upper()}"
        if key.revoked:
            raise OpenPGPCertificateError(f"{name}: {shown} is revoked")
        if key.validity is not None and key.created is not None and key.validity:
            expired = key.created + key.validity
            if expired <= when:
                raise OpenPGPCertificateError(
                    f"{name}: {shown} expired at {expired:%Y-%m-%dT%H:%M:%SZ}"
                )
        if not key.signing:
            raise OpenPGPCertificateError(
                f"{name}: {shown} is not signing-capable (no signing key flag)"
            )

    def sequoia(self) -> pysequoia.Cert:
        return self._cert

    def merged_into(self, stored: Certificate) -> Certificate:
        """``stored`` (the same certificate) with what this copy adds: a copy that is older
        never takes away a revocation or a new binding the stored one has."""
        if stored.fingerprint != self.fingerprint:
            raise OpenPGPMaterialError(
                f"{self.source}: certificate {self.fingerprint} is not {stored.fingerprint}"
            )
        try:
            merged = stored.sequoia().merge(self._cert)
        except Exception as exc:  # pysequoia raises plain exceptions with Rust text
            raise OpenPGPMaterialError(f"{self.source}: cannot merge: {_reason(exc)}") from None
        return Certificate(merged, source=self.source)


def load_certificates(data: bytes, *, source: str = "certificate") -> list[Certificate]:
    """Every certificate in ``data`` (armored or binary); at least one, or exit 64."""
    if len(data) > MAX_KEY_FILE:
        raise OpenPGPMaterialError(f"{source}: larger than {MAX_KEY_FILE} bytes")
    try:
        certs = pysequoia.Cert.split_bytes(data)
    except Exception as exc:  # pysequoia raises plain exceptions with Rust text
        raise OpenPGPMaterialError(
            f"{source}: not an OpenPGP certificate: {_reason(exc)}"
        ) from None
    if not certs:
        raise OpenPGPMaterialError(f"{source}: no OpenPGP certificate in it")
    if any(p.tag in (Tag.SecretKey, Tag.SecretSubkey) for p in PacketPile.from_bytes(data)):
        raise OpenPGPMaterialError(
            f"{source}: holds secret key material; give the public certificate "
            "(gpg --export --armor)"
        )
    return [Certificate(cert, source=source) for cert in certs]


def _read_file(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE:
            raise OpenPGPMaterialError(f"{what} {path}: larger than {MAX_KEY_FILE} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise OpenPGPMaterialError(f"cannot read {what} {path}: {exc.strerror}") from None


def read_certificates(paths: Iterable[Path]) -> list[Certificate]:
    """The certificates in each file (``--openpgp-cert FILE``, repeatable)."""
    certs: list[Certificate] = []
    for path in paths:
        certs.extend(load_certificates(_read_file(path, "OpenPGP certificate"), source=str(path)))
    return certs


class SigningKey:
    """A secret key (``gpg --export-secret-keys --armor``) unlocked for signing."""

    def __init__(self, tsk: pysequoia.Tsk, signer: pysequoia.PySigner, source: str) -> None:
        self._tsk = tsk
        self._signer = signer
        self.source = source
        public = pysequoia.Cert.from_bytes(bytes(tsk.extract_certificate()))
        self.certificate = Certificate(public, source=source)

    @classmethod
    def from_file(cls, path: Path, *, passphrase: str | None = None) -> SigningKey:
        """Read and unlock the key; exit 64 if unreadable, not a secret key or locked."""
        data = _read_file(path, "OpenPGP secret key")
        return cls.from_bytes(data, passphrase=passphrase, source=str(path))

    @classmethod
    def from_bytes(
        cls, data: bytes, *, passphrase: str | None = None, source: str = "OpenPGP key"
    ) -> SigningKey:
        try:
            tsk = pysequoia.Tsk.from_bytes(data)
            secret = any(
                p.tag in (Tag.SecretKey, Tag.SecretSubkey) for p in PacketPile.from_bytes(data)
            )
        except Exception as exc:
            raise OpenPGPMaterialError(
                f"{source}: not an OpenPGP secret key: {_reason(exc)}"
            ) from None
        if not secret:
            raise OpenPGPMaterialError(
                f"{source}: not an OpenPGP secret key (a public certificate?); export it with "
                "gpg --export-secret-keys --armor"
            )
        try:
            signer = tsk.signer(passphrase)
        except Exception as exc:
            hint = " (wrong or missing passphrase?)" if "ncrypt" in str(exc) else ""
            raise OpenPGPMaterialError(
                f"{source}: no usable signing key: {_reason(exc)}{hint}"
            ) from None
        return cls(tsk, signer, source)

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint


def sign_detached(data: bytes, key: SigningKey, *, now: datetime | None = None) -> bytes:
    """An armored detached signature over ``data``, checked against the key's own certificate.

    The check refuses to publish what subscribers would refuse (an expired or revoked key, a key
    without the signing flag), with the same exit codes.
    """
    try:
        signature = pysequoia.sign(key._signer, data, mode=pysequoia.SignatureMode.DETACHED)
    except Exception as exc:
        raise OpenPGPMaterialError(f"{key.source}: cannot sign: {_reason(exc)}") from None
    verify_detached(data, signature, [key.certificate], now=now)
    return signature


@dataclass(frozen=True)
class VerifiedSignature:
    """A detached signature that checked out."""

    certificate: Certificate
    signing_key: str
    created: datetime | None
    hash_algorithm: str

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint


def _parse_signature(signature: bytes) -> pysequoia.Sig:
    if len(signature) > MAX_SIGNATURE:
        raise OpenPGPSignatureError(f"OpenPGP signature larger than {MAX_SIGNATURE} bytes")
    try:
        packets = list(PacketPile.from_bytes(signature))
    except Exception as exc:
        raise OpenPGPSignatureError(f"not an OpenPGP signature: {_reason(exc)}") from None
    if len(packets) != 1 or packets[0].tag != Tag.Signature:
        raise OpenPGPSignatureError(
            f"not one detached OpenPGP signature ({len(packets)} packet(s))"
        )
    if packets[0].signature_type != SignatureType.Binary:
        raise OpenPGPSignatureError(
            f"OpenPGP signature of type {packets[0].signature_type}: only a binary-document "
            "signature (gpg --detach-sign, not --textmode) covers the exact bytes"
        )
    try:
        return pysequoia.Sig.from_bytes(signature)
    except Exception as exc:
        raise OpenPGPSignatureError(f"not an OpenPGP signature: {_reason(exc)}") from None


def verify_detached(
    data: bytes,
    signature: bytes,
    certificates: Sequence[Certificate],
    *,
    now: datetime | None = None,
) -> VerifiedSignature:
    """Check ``signature`` over exactly ``data`` against ``certificates`` (module doc).

    Exit codes: 60 not a valid signature over these bytes, 61 made by no key of the given
    certificates, 62 the certificate or its signing key is expired, revoked or not signing-capable
    now, 64 no certificate given.
    """
    if not certificates:
        raise OpenPGPMaterialError("no OpenPGP certificate to verify the signature with")
    sig = _parse_signature(signature)
    issuer = sig.issuer_fingerprint or sig.issuer_key_id
    if issuer is None:
        raise OpenPGPSignatureError("OpenPGP signature names no issuer")
    found = [(cert, key) for cert in certificates if (key := cert.key_for(issuer)) is not None]
    if not found:
        known = ", ".join(cert.fingerprint for cert in certificates)
        raise OpenPGPSignerUnknownError(
            f"OpenPGP signature made by key {issuer.upper()}, which belongs to none of the "
            f"endorser's certificates ({known})"
        )
    cert, key = found[0]
    cert.check_usable(key, now=now)
    try:
        result = pysequoia.verify(
            bytes=data, store=lambda _ids: [c.sequoia() for c, _ in found], signature=sig
        )
    except Exception as exc:
        raise OpenPGPSignatureError(
            f"OpenPGP signature by {cert.fingerprint} does not verify over these bytes "
            f"({_reason(exc)})"
        ) from None
    valid = [v for v in result.valid_sigs if str(v.certificate).upper() == cert.fingerprint]
    if not valid:  # pragma: no cover - pysequoia raises instead of returning nothing
        raise OpenPGPSignatureError(f"OpenPGP signature by {cert.fingerprint} does not verify")
    algorithm = str(sig.hash_algorithm).rsplit(".", 1)[-1]
    logger.debug("OpenPGP signature by %s (key %s) verified", cert.fingerprint, key.fingerprint)
    return VerifiedSignature(cert, key.fingerprint.upper(), sig.created, algorithm)
