"""The marketplace's service certificate: loaded once, used to S/MIME-sign every published list.

The certificate and key are read through the publisher's credential checks (a bounded regular
file; the key private to its owner, as OpenSSH demands), and the certificate must allow digital
signatures. Whatever is wrong is one :class:`~imagelist.errors.MarketSettingsError` (exit 87).

A second, detached signature (OpenPGP ``image.list.json.asc``) can be plugged in with
:func:`register_detached_signer`; until one is registered, lists carry only S/MIME.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ..errors import ImageListError, MarketSettingsError
from ..smime import sign_detached
from ..trust import issuer_oneline, subject_oneline

__all__ = [
    "DetachedSigner",
    "ServiceSigner",
    "detached_signature",
    "load_service_signer",
    "register_detached_signer",
    "unregister_detached_signer",
]

logger = logging.getLogger(__name__)

#: ``(json bytes, settings) -> armored detached signature`` or None (no signature this time).
DetachedSigner = Callable[[bytes, Any], bytes | None]
_detached: list[DetachedSigner] = []
_cache: dict[tuple[str, str], tuple[tuple[float, float], ServiceSigner]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ServiceSigner:
    """The loaded service certificate and key, and the DNs the lists name as endorser."""

    certificate: x509.Certificate
    key: PrivateKeyTypes
    dn: str
    ca: str
    email: str

    def sign(self, payload: bytes) -> bytes:
        """A detached ``multipart/signed`` S/MIME message over ``payload`` (SHA-256)."""
        return sign_detached(payload, self.certificate, self.key, digest="sha256")


def load_service_signer(cert: Path | None, key: Path | None) -> ServiceSigner:
    """The signer for ``cert``/``key``, reloaded when either file changed (exit 87 if unusable)."""
    if cert is None or key is None:
        raise MarketSettingsError(
            "no service certificate configured: set IMAGELIST_MARKET_SIGNER_CERT and "
            "IMAGELIST_MARKET_SIGNER_KEY"
        )
    try:
        stamp = (os.stat(cert).st_mtime, os.stat(key).st_mtime)
    except OSError as exc:
        raise MarketSettingsError(
            f"cannot read service certificate or key {exc.filename}: {exc.strerror}"
        ) from None
    cache_key = (str(cert), str(key))
    with _lock:
        cached = _cache.get(cache_key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        signer = _load(cert, key)
        _cache[cache_key] = (stamp, signer)
        return signer


def _load(cert: Path, key: Path) -> ServiceSigner:
    from ..publisher.credentials import check_key_usage, load_certificate, load_private_key

    def no_passphrase(_path: Path) -> bytes | None:
        return None

    try:
        certificate = load_certificate(cert)
        check_key_usage(certificate, cert)
        private_key = load_private_key(key, certificate, no_passphrase)
    except MarketSettingsError:
        raise
    except ImageListError as exc:
        raise MarketSettingsError(f"service certificate: {exc}") from None
    return ServiceSigner(
        certificate,
        private_key,
        subject_oneline(certificate),
        issuer_oneline(certificate),
        _email(certificate),
    )


def _email(certificate: x509.Certificate) -> str:
    """The certificate's e-mail address (subjectAltName rfc822Name, else emailAddress), or ""."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = names.get_values_for_type(x509.RFC822Name)
        if emails:
            return str(emails[0])
    except (x509.ExtensionNotFound, ValueError):
        pass
    attributes = certificate.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS)
    return str(attributes[0].value) if attributes else ""


def register_detached_signer(signer: DetachedSigner) -> None:
    """Add the signer of ``image.list.json.asc`` (the OpenPGP helper registers one)."""
    if signer not in _detached:
        _detached.append(signer)


def unregister_detached_signer(signer: DetachedSigner) -> None:
    """Remove a signer added by :func:`register_detached_signer` (if it is there)."""
    if signer in _detached:
        _detached.remove(signer)


def detached_signature(payload: bytes, settings: Any) -> bytes | None:
    """The detached signature over ``payload`` from the registered signer, or None."""
    for signer in _detached:
        signature = signer(payload, settings)
        if signature is not None:
            return signature
    return None
