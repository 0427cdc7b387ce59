"""The IGTF trust directory: CA certificates, CRLs and namespace policies, loaded once.

Layout (``/etc/grid-security/certificates`` as the IGTF distribution and fetch-crl write it):
``<hash>.0`` or ``<alias>.pem`` CA certificates, ``<hash>.r0`` CRLs (PEM or DER),
``<hash>.signing_policy`` and ``<hash>.namespaces`` policies. Other files are ignored. A file that
cannot be parsed is skipped with a warning naming it, so one broken file does not take down the
whole store; a directory without any usable CA is an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto.core import ObjectIdentifier
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from ..errors import NoTrustAnchorsError, TrustStoreError
from .dn import NameAttribute, name_oneline, name_rdns
from .policy import NamespacePolicy, parse_namespaces, parse_signing_policy

__all__ = [
    "DEFAULT_TRUST_DIR",
    "TrustStore",
    "TrustedCA",
    "default_trust_dir",
    "subject_hash",
]

logger = logging.getLogger(__name__)

DEFAULT_TRUST_DIR = "/etc/grid-security/certificates"

_CERT_FILE = re.compile(r"^(?:[0-9a-f]{8}\.\d+|.+\.pem)$")
_CRL_FILE = re.compile(r"^[0-9a-f]{8}\.r\d+$")
_PEM_CERT = re.compile(
    rb"-----BEGIN (?:TRUSTED )?CERTIFICATE-----.+?-----END (?:TRUSTED )?CERTIFICATE-----", re.S
)


def default_trust_dir(environ: Mapping[str, str]) -> str:
    """``VMCATCHER_DIR_CERT``, then ``X509_CERT_DIR``, then ``/etc/grid-security/certificates``."""
    return environ.get("VMCATCHER_DIR_CERT") or environ.get("X509_CERT_DIR") or DEFAULT_TRUST_DIR


_CANON_TAGS = frozenset({12, 19, 20, 22, 26, 28, 30})  # UTF8, Printable, T61, IA5, Visible, ...
_SPACE = b" \t\n\v\f\r"
_DECODINGS = {12: "utf-8", 28: "utf-32-be", 30: "utf-16-be"}  # the rest as OpenSSL: Latin-1


def _canonical_value(attribute: NameAttribute) -> bytes:
    """One attribute value as OpenSSL canonicalises it for the subject hash."""
    if attribute.tag not in _CANON_TAGS:
        return attribute.encoded
    try:
        text = attribute.contents.decode(_DECODINGS.get(attribute.tag, "latin-1"))
        utf8 = text.encode("utf-8")
    except UnicodeError:
        return attribute.encoded
    words = [word for word in re.split(b"[" + re.escape(_SPACE) + b"]+", utf8) if word]
    folded = b" ".join(words)
    return _der(0x0C, bytes(byte + 32 if 0x41 <= byte <= 0x5A else byte for byte in folded))


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        header = bytes([tag, length])
    else:
        size = length.to_bytes((length.bit_length() + 7) // 8, "big")
        header = bytes([tag, 0x80 | len(size)]) + size
    return header + content


def subject_hash(der_name: bytes) -> str:
    """OpenSSL's ``X509_NAME_hash`` (``openssl x509 -hash``) of a DER-encoded name."""
    canonical = b""
    for rdn in name_rdns(der_name):
        members = sorted(_der(0x30, _oid_der(attr.oid) + _canonical_value(attr)) for attr in rdn)
        canonical += _der(0x31, b"".join(members))
    digest = hashlib.sha1(canonical, usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _oid_der(dotted: str) -> bytes:
    return bytes(ObjectIdentifier(dotted).dump())


@dataclass
class TrustedCA:
    """One CA certificate from the directory, with what the directory says about it."""

    certificate: x509.Certificate
    path: Path
    subject: str
    subject_der: bytes
    hash: str
    crls: list[tuple[x509.CertificateRevocationList, Path]] = field(default_factory=list)
    policies: list[NamespacePolicy] = field(default_factory=list)

    @property
    def self_signed(self) -> bool:
        return self.certificate.issuer == self.certificate.subject


class TrustStore:
    """CA certificates, CRLs and policies of one trust directory, indexed for path building."""

    def __init__(self, directory: Path, cas: Iterable[TrustedCA]) -> None:
        self.directory = directory
        self.cas: tuple[TrustedCA, ...] = tuple(cas)
        self._by_subject: dict[bytes, list[TrustedCA]] = {}
        for ca in self.cas:
            self._by_subject.setdefault(ca.subject_der, []).append(ca)

    def __len__(self) -> int:
        return len(self.cas)

    def issuers_of(self, certificate: x509.Certificate) -> list[TrustedCA]:
        """The directory's CAs whose subject is the certificate's issuer."""
        return self._by_subject.get(certificate.issuer.public_bytes(), [])

    def find(self, certificate: x509.Certificate) -> TrustedCA | None:
        """The directory entry for exactly this certificate, if it is one of the trusted CAs."""
        for ca in self._by_subject.get(certificate.subject.public_bytes(), []):
            if ca.certificate == certificate:
                return ca
        return None

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> TrustStore:
        """Read a trust directory. Raises TrustStoreError if it cannot be read at all and
        NoTrustAnchorsError if it holds no CA certificate."""
        root = Path(directory)
        try:
            names = sorted(os.listdir(root))
        except OSError as exc:
            raise TrustStoreError(f"cannot read trust directory {root}: {exc.strerror}") from None
        cas: dict[bytes, TrustedCA] = {}
        crls: list[tuple[x509.CertificateRevocationList, Path]] = []
        policies: list[NamespacePolicy] = []
        seen: set[str] = set()
        for name in names:
            path = root / name
            try:
                # IGTF ships <alias>.ext files with <hash>.ext symlinks: read each file once.
                real = os.path.realpath(path)
                if not path.is_file() or real in seen:
                    continue
                seen.add(real)
                if name.endswith(".namespaces"):
                    policies.extend(parse_namespaces(_read_text(path), str(path)))
                elif name.endswith(".signing_policy"):
                    policies.extend(parse_signing_policy(_read_text(path), str(path)))
                elif _CRL_FILE.match(name):
                    crls.append((_load_crl(path.read_bytes()), path))
                elif _CERT_FILE.match(name):
                    for certificate in _load_certificates(path.read_bytes()):
                        der = certificate.public_bytes(Encoding.DER)
                        if der in cas:
                            continue
                        subject_der = certificate.subject.public_bytes()
                        cas[der] = TrustedCA(
                            certificate=certificate,
                            path=path,
                            subject=name_oneline(subject_der),
                            subject_der=subject_der,
                            hash=subject_hash(subject_der),
                        )
            except (OSError, ValueError) as exc:
                logger.warning("trust directory: skipping %s: %s", path, exc)
        store = cls(root, cas.values())
        for crl, path in crls:
            issuers = store._by_subject.get(crl.issuer.public_bytes(), [])
            if not issuers:
                logger.debug("trust directory: CRL %s has no CA in the directory", path)
            for ca in issuers:
                ca.crls.append((crl, path))
        by_dn: dict[str, list[TrustedCA]] = {}
        for ca in store.cas:
            for form in {ca.subject, name_oneline(ca.subject_der, legacy=True)}:
                by_dn.setdefault(form, []).append(ca)
        for policy in policies:
            for ca in by_dn.get(policy.ca_dn, []):
                ca.policies.append(policy)
        if not store.cas:
            raise NoTrustAnchorsError(f"no CA certificate found in trust directory {root}")
        logger.info(
            "trust directory %s: %d CA certificates, %d CRLs, %d policies",
            root,
            len(store.cas),
            len(crls),
            len(policies),
        )
        return store


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _load_certificates(data: bytes) -> list[x509.Certificate]:
    # Old CA certificates (negative serials and the like) warn in cryptography; OpenSSL accepts
    # them, and so do we.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        blocks = _PEM_CERT.findall(data)
        if blocks:
            return [x509.load_pem_x509_certificate(block) for block in blocks]
        return [x509.load_der_x509_certificate(data)]


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if b"-----BEGIN X509 CRL-----" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)
