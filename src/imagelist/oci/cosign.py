"""Cosign key-pair signatures ("simple signing" at tag ``sha256-<hex>.sig``), verified offline.

The signature of manifest ``sha256:<hex>`` is an image manifest at tag ``sha256-<hex>.sig`` in the
same repository. Each of its layers of media type
``application/vnd.dev.cosign.simplesigning.v1+json`` is a payload::

    {"critical": {"identity": {"docker-reference": "..."},
                  "image": {"docker-manifest-digest": "sha256:<hex>"},
                  "type": "cosign container image signature"},
     "optional": {"timestamp": 1767225600, ...}}

signed by the layer annotation ``dev.cosignproject.cosign/signature`` (base64; ECDSA or RSA
PKCS#1 v1.5 with SHA-256, or Ed25519). A signature is valid when the pinned public key verifies
it over the exact payload bytes (hashed to the layer's digest on download) and the payload names
the manifest digest. Cosign has no expiry: ours is ``max_age`` counted from the signed
``optional.timestamp`` (seconds since the epoch, as containers/image writes it); without one, a
configured maximum age cannot be checked and the signature is refused.

Errors: 66 no signature, 67 no valid signature (wrong key, altered payload, other digest),
68 older than ``max_age``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..errors import (
    ConfigurationError,
    OciError,
    OciManifestError,
    OciSignatureError,
    OciSignatureExpiredError,
    OciSignatureMissingError,
)
from .client import RegistryClient
from .manifest import Descriptor
from .push import EMPTY_CONFIG, build_manifest, push_blob, push_manifest
from .reference import Reference

__all__ = [
    "PAYLOAD_MEDIA_TYPE",
    "SIGNATURE_ANNOTATION",
    "CosignVerdict",
    "PublicKey",
    "load_public_key",
    "sign_manifest",
    "signature_tag",
    "verify_manifest",
]

logger = logging.getLogger(__name__)

PAYLOAD_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
_MAX_PAYLOAD = 64 * 1024
_CLOCK_SKEW = 300
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def signature_tag(digest: str) -> str:
    """``sha256-<hex>.sig``: where cosign keeps the signature of manifest ``digest``."""
    return digest.replace(":", "-") + ".sig"


def load_public_key(path: Path) -> PublicKey:
    """The pinned public key (PEM, as ``cosign generate-key-pair`` writes ``cosign.pub``)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigurationError(f"cannot read cosign public key {path}: {exc.strerror}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigurationError(f"{path} is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ConfigurationError(f"{path}: unsupported key type for cosign signatures")
    return key


def _verify(key: PublicKey, signature: bytes, payload: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, payload)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class CosignVerdict:
    """A verified signature: the manifest digest, when it was signed (None: not said)."""

    digest: str
    signed_at: float | None
    optional: dict[str, Any]


def _payload_claims(payload: bytes, digest: str) -> tuple[bool, dict[str, Any]]:
    try:
        document = json.loads(payload)
        critical = document["critical"]
        named = critical["image"]["docker-manifest-digest"]
        kind = critical["type"]
        optional = document.get("optional") or {}
    except (ValueError, KeyError, TypeError):
        return False, {}
    if not isinstance(optional, dict):
        optional = {}
    return named == digest and kind == "cosign container image signature", optional


def _read_payload(client: RegistryClient, repository: str, layer: Descriptor) -> bytes | None:
    if layer.size > _MAX_PAYLOAD:
        return None
    response = client.open_blob(repository, layer.digest)
    try:
        if response.status_code != 200:
            return None
        data: bytes = response.raw.read(_MAX_PAYLOAD + 1, decode_content=True)
    finally:
        response.close()
    if len(data) != layer.size or hashlib.sha256(data).hexdigest() != layer.hex:
        return None
    return data


def verify_manifest(
    client: RegistryClient,
    reference: Reference,
    key: PublicKey,
    *,
    max_age: float | None = None,
    now: float | None = None,
) -> CosignVerdict:
    """Check that the pinned manifest of ``reference`` carries a valid cosign signature."""
    digest = reference.digest
    if digest is None:
        raise OciSignatureError(f"{reference}: only a manifest digest can be verified")
    where = f"{reference.registry}/{reference.repository}@{digest}"
    try:
        signatures = client.get_manifest(reference.repository, signature_tag(digest))
    except OciManifestError as exc:
        if "has no manifest" in str(exc):
            raise OciSignatureMissingError(
                f"{where} has no cosign signature (no tag {signature_tag(digest)})"
            ) from None
        raise
    verdict: CosignVerdict | None = None
    for layer in signatures.layers:
        encoded = layer.annotations.get(SIGNATURE_ANNOTATION)
        if layer.media_type != PAYLOAD_MEDIA_TYPE or not encoded:
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        payload = _read_payload(client, reference.repository, layer)
        if payload is None or not _verify(key, signature, payload):
            continue
        names_it, optional = _payload_claims(payload, digest)
        if not names_it:
            logger.warning("%s: a valid signature names another manifest; ignored", where)
            continue
        stamp = optional.get("timestamp")
        signed_at = float(stamp) if isinstance(stamp, int | float) and stamp > 0 else None
        verdict = CosignVerdict(digest, signed_at, optional)
        break
    if verdict is None:
        raise OciSignatureError(f"{where}: no cosign signature verifies with the pinned key")
    _check_age(verdict, where, max_age, time.time() if now is None else now)
    return verdict


def _check_age(verdict: CosignVerdict, where: str, max_age: float | None, now: float) -> None:
    if max_age is None:
        return
    if verdict.signed_at is None:
        raise OciSignatureExpiredError(
            f"{where}: the signature carries no signed timestamp, so its age (max "
            f"{max_age / 86400:g} days) cannot be checked"
        )
    if verdict.signed_at > now + _CLOCK_SKEW:
        raise OciSignatureError(f"{where}: the signature claims to be made in the future")
    age = now - verdict.signed_at
    if age > max_age:
        raise OciSignatureExpiredError(
            f"{where}: the signature is {age / 86400:.1f} days old, more than the maximum "
            f"of {max_age / 86400:g} days"
        )


def sign_manifest(
    client: RegistryClient,
    reference: Reference,
    private_key: ec.EllipticCurvePrivateKey,
    *,
    timestamp: int | None = None,
) -> str:
    """Store a cosign simple-signing signature of the pinned ``reference`` (ECDSA P-256)."""
    if reference.digest is None:
        raise OciError(f"{reference}: only a manifest digest can be signed")
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": f"{reference.registry}/{reference.repository}"},
                "image": {"docker-manifest-digest": reference.digest},
                "type": "cosign container image signature",
            },
            "optional": {"timestamp": int(time.time()) if timestamp is None else timestamp},
        },
        separators=(",", ":"),
    ).encode()
    signature = private_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    push_blob(client, reference.repository, b"{}", EMPTY_CONFIG.media_type)
    layer = push_blob(client, reference.repository, payload, PAYLOAD_MEDIA_TYPE)
    annotated = Descriptor(
        layer.media_type,
        layer.digest,
        layer.size,
        {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode("ascii")},
    )
    body = build_manifest(EMPTY_CONFIG, [annotated])
    return push_manifest(client, reference.repository, body, signature_tag(reference.digest))
