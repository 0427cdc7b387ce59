"""Certificate path validation for S/MIME signers against an IGTF trust directory.

The rules follow what ``openssl smime -verify -CApath DIR -crl_check_all`` enforces, which is what
the old tools relied on, plus the IGTF namespace policies that smimeX509validation added:

* a path from the signer up to a self-signed CA of the directory; intermediates come from the
  directory or, as OpenSSL allows, from the message (never trusted by themselves);
* every certificate valid at the check time; issuers are CAs (basicConstraints, or an X.509 v1
  self-signed root as OpenSSL accepts), with keyCertSign when they carry a keyUsage, and within
  their pathLenConstraint;
* the S/MIME signing purpose: an extendedKeyUsage, where present, must allow emailProtection (on
  the CAs too); the signer's keyUsage, where present, must allow digitalSignature or
  nonRepudiation;
* CRLs: by default every certificate of the path, the root included, must be covered by a
  current, complete CRL of its issuer (:mod:`.crl`: scope, deltas, critical extensions) and not
  be listed in it (``CrlPolicy.REQUIRE``, as ``-crl_check_all``; fetch-crl is mandatory in IGTF
  sites); ``CrlPolicy.IF_PRESENT`` skips CAs that have no CRL file at all;
* keys: RSA of 2048 bits or more and EC P-256 or stronger everywhere on the path, no MD5
  (:mod:`.keys`, ADR 8);
* namespace policy: where a CA has a ``.namespaces`` or ``.signing_policy``, the subjects it
  signed must be inside it, in every one-line form they can be read in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..errors import (
    CertificateExpiredError,
    CertificateRevokedError,
    ChainError,
    CrlError,
    KeyUsageError,
    NamespacePolicyError,
    UntrustedSignerError,
    WeakKeyError,
)
from .crl import choose_crl, is_revoked
from .dn import name_oneline
from .keys import KeyPolicy, check_key, weak_signature_algorithm
from .policies import CrlPolicy
from .store import TrustedCA, TrustStore

__all__ = ["CrlPolicy", "check_namespace", "validate_signer"]

logger = logging.getLogger(__name__)

_MAX_DEPTH = 10
_KEYS = KeyPolicy()


def _dn(name: x509.Name) -> str:
    return name_oneline(name.public_bytes())


#: Whether a certificate (DER) was signed by a CA certificate (DER): a function of those exact
#: bytes alone, so remembered; every time-dependent check still runs for every list.
_ISSUED: dict[tuple[bytes, bytes], bool] = {}
_ISSUED_MAX = 4096


def _directly_issued(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    key = (child.public_bytes(Encoding.DER), issuer.public_bytes(Encoding.DER))
    known = _ISSUED.get(key)
    if known is not None:
        return known
    try:
        child.verify_directly_issued_by(issuer)
        issued = True
    except (ValueError, TypeError, InvalidSignature):
        issued = False
    if len(_ISSUED) >= _ISSUED_MAX:
        _ISSUED.clear()
    _ISSUED[key] = issued
    return issued


def _build_path(
    store: TrustStore, signer: x509.Certificate, untrusted: Sequence[x509.Certificate]
) -> list[tuple[x509.Certificate, TrustedCA | None]]:
    """The signer, then issuers up to a self-signed CA of the store."""
    path: list[tuple[x509.Certificate, TrustedCA | None]] = [(signer, store.find(signer))]
    current = signer
    while True:
        entry = path[-1][1]
        if entry is not None and entry.self_signed:
            return path
        weak = weak_signature_algorithm(current.signature_algorithm_oid)
        if weak is not None:
            raise WeakKeyError(
                f"certificate {_dn(current.subject)} is signed with {weak}, which is broken"
            )
        if len(path) > _MAX_DEPTH:
            raise UntrustedSignerError(
                f"certificate path from {_dn(signer.subject)} is longer than {_MAX_DEPTH}"
            )
        candidates: list[tuple[x509.Certificate, TrustedCA | None]] = [
            (ca.certificate, ca) for ca in store.issuers_of(current)
        ]
        candidates += [
            (cert, None) for cert in untrusted if cert.subject == current.issuer and cert != current
        ]
        issuer = next((pair for pair in candidates if _directly_issued(current, pair[0])), None)
        if issuer is None or any(issuer[0] == cert for cert, _ in path):
            if current.issuer == current.subject:
                raise UntrustedSignerError(
                    f"signer chain ends at {_dn(current.subject)}, a CA that is not in the "
                    f"trust directory {store.directory}"
                )
            if candidates:
                raise UntrustedSignerError(
                    f"certificate {_dn(current.subject)} names {_dn(current.issuer)} as issuer, "
                    "but no such CA's key signed it"
                )
            raise UntrustedSignerError(
                f"issuer {_dn(current.issuer)} of {_dn(current.subject)} is not in the trust "
                f"directory {store.directory}"
            )
        path.append(issuer)
        current = issuer[0]


def _check_validity(cert: x509.Certificate, at: datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise CertificateExpiredError(
            f"certificate {_dn(cert.subject)} is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    if at > cert.not_valid_after_utc:
        raise CertificateExpiredError(
            f"certificate {_dn(cert.subject)} expired at "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        )


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_purpose(cert: x509.Certificate, *, is_ca: bool) -> None:
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if isinstance(eku, x509.ExtendedKeyUsage) and ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku:
        raise KeyUsageError(
            f"certificate {_dn(cert.subject)} has an extendedKeyUsage without emailProtection, "
            "so it may not sign S/MIME"
        )
    if is_ca:
        return
    key_usage = _extension(cert, x509.KeyUsage)
    if isinstance(key_usage, x509.KeyUsage) and not (
        key_usage.digital_signature or key_usage.content_commitment
    ):
        raise KeyUsageError(
            f"signer certificate {_dn(cert.subject)} has a keyUsage without digitalSignature "
            "or nonRepudiation"
        )


def _check_ca(cert: x509.Certificate, below: int) -> None:
    """``below`` is how many CA certificates the path holds under this one."""
    constraints = _extension(cert, x509.BasicConstraints)
    key_usage = _extension(cert, x509.KeyUsage)
    self_signed_v1 = cert.version == x509.Version.v1 and cert.issuer == cert.subject
    if isinstance(constraints, x509.BasicConstraints):
        if not constraints.ca:
            raise ChainError(f"issuer {_dn(cert.subject)} is not a CA (basicConstraints CA:FALSE)")
        if constraints.path_length is not None and below > constraints.path_length:
            raise ChainError(
                f"CA {_dn(cert.subject)} may have {constraints.path_length} CAs below it, "
                f"the path has {below}"
            )
    elif not self_signed_v1 and not (
        isinstance(key_usage, x509.KeyUsage) and key_usage.key_cert_sign
    ):
        raise ChainError(f"issuer {_dn(cert.subject)} is not a CA (no basicConstraints)")
    if isinstance(key_usage, x509.KeyUsage) and not key_usage.key_cert_sign:
        raise KeyUsageError(f"CA {_dn(cert.subject)} has a keyUsage without keyCertSign")
    _check_purpose(cert, is_ca=True)


def _check_revocation(
    cert: x509.Certificate, issuer: TrustedCA | None, at: datetime, crl_policy: CrlPolicy
) -> None:
    if issuer is None:
        # An intermediate that came with the message: its CRL cannot be in the directory.
        if crl_policy is CrlPolicy.REQUIRE:
            raise CrlError(
                f"no CRL for CA {_dn(cert.issuer)}: it is not in the trust directory, "
                "so its CRL cannot be checked"
            )
        return
    choice = choose_crl(cert, issuer.crls, issuer.certificate, at)
    if choice.crl is None:
        if crl_policy is CrlPolicy.IF_PRESENT and not issuer.crls:
            return
        detail = "; ".join(choice.problems) if choice.problems else "no CRL file"
        expected = issuer.path.parent / f"{issuer.hash}.r0"
        raise CrlError(
            f"no current CRL of CA {issuer.subject} covers {_dn(cert.subject)}: expected "
            f"{expected} ({detail}); run fetch-crl"
        )
    revoked = is_revoked(choice.crl, cert.serial_number)
    if revoked is not None:
        raise CertificateRevokedError(
            f"certificate {_dn(cert.subject)} (serial {cert.serial_number:#x}) was revoked by "
            f"{issuer.subject} on {revoked.revocation_date_utc:%Y-%m-%dT%H:%M:%SZ}"
        )


def _check_namespace(cert: x509.Certificate, issuer: TrustedCA | None) -> None:
    if issuer is None or not issuer.policies:
        return
    subject_der = cert.subject.public_bytes()
    # Every form the subject can be read in must be allowed: a DENY on either denies (ADR 8).
    forms = {name_oneline(subject_der), name_oneline(subject_der, legacy=True)}
    for policy in issuer.policies:
        if not all(policy.allows(form) for form in forms):
            raise NamespacePolicyError(
                f"subject {name_oneline(subject_der)} is outside the namespace of CA "
                f"{issuer.subject} ({policy.source})"
            )


def check_namespace(cert: x509.Certificate, issuer: TrustedCA | None) -> None:
    """Raise NamespacePolicyError unless every policy of ``issuer`` permits every rendering of
    ``cert``'s subject (an issuer without policies sets no limit). Also used for https servers."""
    _check_namespace(cert, issuer)


def validate_signer(
    store: TrustStore,
    signer: x509.Certificate,
    *,
    at: datetime | None = None,
    untrusted: Sequence[x509.Certificate] = (),
    crl_policy: CrlPolicy = CrlPolicy.REQUIRE,
    key_policy: KeyPolicy | None = None,
) -> tuple[x509.Certificate, ...]:
    """Check that ``signer`` may sign S/MIME at ``at`` (default now) under the trust directory.

    Returns the path, signer first and trusted root last. Raises a
    :class:`~imagelist.errors.ChainError` subclass naming the certificate and the rule broken.
    """
    when = (at or datetime.now(UTC)).astimezone(UTC)
    try:
        return _validate(store, signer, when, untrusted, crl_policy, key_policy or _KEYS)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # cryptography parses extensions and keys lazily: a malformed one surfaces here.
        raise ChainError(f"a certificate of the signer's path cannot be processed: {exc}") from None


def _validate(
    store: TrustStore,
    signer: x509.Certificate,
    when: datetime,
    untrusted: Sequence[x509.Certificate],
    crl_policy: CrlPolicy,
    key_policy: KeyPolicy,
) -> tuple[x509.Certificate, ...]:
    path = _build_path(store, signer, untrusted)
    for index, (cert, _) in enumerate(path):
        _check_validity(cert, when)
        if index == 0:
            _check_purpose(cert, is_ca=False)
        else:
            _check_ca(cert, below=index - 1)
        check_key(cert, key_policy, role="CA" if index else "signer")
    for index, (cert, entry) in enumerate(path):
        # As OpenSSL's -crl_check_all: every certificate, the self-signed root included, is
        # checked against the CRL of its issuer (the root's issuer is the root itself).
        issuer = path[index + 1][1] if index + 1 < len(path) else entry
        if index == 0 or index + 1 < len(path):
            # Trust anchors are not held to their own policy, except when one signs the list.
            _check_namespace(cert, issuer)
        _check_revocation(cert, issuer, when, crl_policy)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("signer path: %s", " <- ".join(_dn(cert.subject) for cert, _ in path))
    return tuple(cert for cert, _ in path)
