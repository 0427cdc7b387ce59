"""Signers and CAs the standard test PKI does not have: any name, key, hash or extension.

:func:`issue` makes a certificate for any :class:`x509.Name` (multi-valued RDNs, slashes or
backslashes inside values, other string types) under an issuer of the test PKI, with the key and
the extensions asked for. ``md5=True`` signs it with MD5, which cryptography refuses to do: the
TBSCertificate is then re-assembled with asn1crypto and signed with the raw key.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Sequence

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.pki import DEFAULT_EKU, DEFAULT_KEY_USAGE, Credential, PrivateKey, _aki, _credential

__all__ = ["issue", "small_rsa_key"]

_SMALL_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def small_rsa_key(openssl: str, bits: int) -> rsa.RSAPrivateKey:
    """An RSA key below cryptography's 1024-bit generation floor, made by openssl (cached)."""
    if bits not in _SMALL_KEYS:
        if bits >= 1024:
            _SMALL_KEYS[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        else:
            pem = subprocess.run(
                [openssl, "genrsa", str(bits)], capture_output=True, check=True, timeout=60
            ).stdout
            key = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            _SMALL_KEYS[bits] = key
    return _SMALL_KEYS[bits]


def _md5_resign(cert: x509.Certificate, issuer_key: PrivateKey) -> x509.Certificate:
    assert isinstance(issuer_key, rsa.RSAPrivateKey)
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    tbs["signature"] = {"algorithm": "md5_rsa"}
    der = tbs.dump(force=True)
    signature = issuer_key.sign(der, padding.PKCS1v15(), hashes.MD5())
    rebuilt = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "md5_rsa"},
            "signature_value": signature,
        }
    )
    return x509.load_der_x509_certificate(rebuilt.dump())


def issue(
    issuer: Credential | None,
    name: x509.Name,
    *,
    now: dt.datetime,
    key: PrivateKey | None = None,
    ca: bool = False,
    md5: bool = False,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> Credential:
    """A certificate for ``name`` signed by ``issuer`` (self-signed if None), valid around now.

    The key defaults to a fresh EC P-256 key (fast); an end entity gets the S/MIME key usages of
    the test PKI, a CA basicConstraints CA:TRUE with keyCertSign and cRLSign.
    """
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    signing_key = issuer.key if issuer is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2))
        .not_valid_after(now + dt.timedelta(days=60))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        builder = builder.add_extension(DEFAULT_KEY_USAGE, True)
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(DEFAULT_EKU)), False)
    aki = _aki(issuer) if issuer is not None else None
    if aki is not None:
        builder = builder.add_extension(aki, False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    cert = builder.sign(signing_key, hashes.SHA256())
    if md5:
        cert = _md5_resign(cert, signing_key)
    return _credential(cert, key)
