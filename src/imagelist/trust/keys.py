"""Key and algorithm policy for the signer's certificate path (ADR 8).

By default the signer and every CA of its path, the root included, must hold an RSA key of at
least 2048 bits (DSA alike), an EC key on a curve of at least 256 bits (P-256, P-384, P-521) or
an Ed25519/Ed448 key, and nothing of the path (certificate or CRL) may be signed with MD5, MD4 or
MD2. :class:`KeyPolicy` can lower the RSA floor to no less than 1024 bits for sites that still
trust such CAs; every key accepted below 2048 bits then logs a warning. SHA-1 signatures keep
verifying: old lists and old CA certificates use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ..errors import UsageError, WeakKeyError
from .dn import name_oneline
from .policies import DEFAULT_MIN_RSA_BITS, LOWEST_MIN_RSA_BITS

__all__ = [
    "DEFAULT_MIN_RSA_BITS",
    "LOWEST_MIN_RSA_BITS",
    "MIN_EC_BITS",
    "KeyPolicy",
    "check_key",
    "weak_signature_algorithm",
]

logger = logging.getLogger(__name__)

MIN_EC_BITS = 256

# Signature (and digest) algorithm OIDs built on MD2, MD4 or MD5.
_WEAK_ALGORITHMS: dict[str, str] = {
    "1.2.840.113549.1.1.2": "MD2",
    "1.2.840.113549.1.1.3": "MD4",
    "1.2.840.113549.1.1.4": "MD5",
    "1.2.840.113549.2.2": "MD2",
    "1.2.840.113549.2.4": "MD4",
    "1.2.840.113549.2.5": "MD5",
}


@dataclass(frozen=True)
class KeyPolicy:
    """The smallest RSA/DSA key accepted in a signer's path (2048 bits unless lowered)."""

    min_rsa_bits: int = DEFAULT_MIN_RSA_BITS

    def __post_init__(self) -> None:
        if self.min_rsa_bits < LOWEST_MIN_RSA_BITS:
            raise UsageError(
                f"the RSA key floor cannot be lowered below {LOWEST_MIN_RSA_BITS} bits "
                f"(asked for {self.min_rsa_bits})"
            )
        if self.min_rsa_bits < DEFAULT_MIN_RSA_BITS:
            logger.warning(
                "RSA keys of %d bits and more are accepted (the default floor is %d)",
                self.min_rsa_bits,
                DEFAULT_MIN_RSA_BITS,
            )


def weak_signature_algorithm(oid: x509.ObjectIdentifier) -> str | None:
    """``"MD5"`` (or MD4, MD2) when ``oid`` is a signature or digest algorithm built on it."""
    return _WEAK_ALGORITHMS.get(oid.dotted_string)


def _subject(cert: x509.Certificate) -> str:
    return name_oneline(cert.subject.public_bytes())


def check_key(cert: x509.Certificate, policy: KeyPolicy, *, role: str) -> None:
    """Raise WeakKeyError when the certificate's key or its signature algorithm is too weak.

    ``role`` names the certificate in the message (``signer`` or ``CA``).
    """
    weak = weak_signature_algorithm(cert.signature_algorithm_oid)
    if weak is not None:
        raise WeakKeyError(
            f"{role} certificate {_subject(cert)} is signed with {weak}, which is broken"
        )
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
        bits = key.key_size
        if bits >= DEFAULT_MIN_RSA_BITS:
            return
        subject = _subject(cert)
        if bits < policy.min_rsa_bits:
            raise WeakKeyError(
                f"{role} certificate {subject} has a {bits}-bit {kind} key; at least "
                f"{policy.min_rsa_bits} bits are required"
            )
        logger.warning(
            "%s certificate %s has a %d-bit %s key, accepted only because the RSA floor "
            "is lowered to %d bits",
            role,
            subject,
            bits,
            kind,
            policy.min_rsa_bits,
        )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < MIN_EC_BITS:
            raise WeakKeyError(
                f"{role} certificate {_subject(cert)} has an EC key on {key.curve.name} "
                f"({key.curve.key_size} bits); P-256 or stronger is required"
            )
    elif not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        raise WeakKeyError(f"{role} certificate {_subject(cert)} has a key of an unsupported type")
