"""Which CRL decides whether a certificate is revoked, as ``openssl -crl_check_all`` chooses it.

A certificate is *covered* only by a CRL of its issuer that is complete for it:

* not a delta CRL (deltaCRLIndicator), not indirect, not limited to some reasons;
* its issuingDistributionPoint, if any, includes the certificate: onlyContainsUserCerts excludes
  CAs, onlyContainsCACerts excludes end entities, onlyContainsAttributeCerts excludes both, and a
  distribution point name must match one of the certificate's cRLDistributionPoints (which must
  not limit the reasons either);
* no critical extension we do not understand, in the CRL or in any of its entries (fail closed);
* current at the check time.

Of the covering CRLs in a CA's ``<hash>.r0``, ``<hash>.r1``... files, the one issued last
(thisUpdate) decides, as OpenSSL picks it; its signature must verify with the CA's key (with
cRLSign where the CA has a keyUsage, never MD5). Anything else is "no CRL" for that certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from .keys import weak_signature_algorithm

__all__ = ["CrlChoice", "CrlFacts", "choose_crl", "crl_facts", "is_revoked"]

_HANDLED_CRITICAL = frozenset(
    {
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.DELTA_CRL_INDICATOR,
    }
)


@dataclass(frozen=True)
class CrlFacts:
    """What matters about one CRL for choosing it, read once."""

    delta: bool
    idp: x509.IssuingDistributionPoint | None
    unknown_critical: str | None  # the OID of an unhandled critical extension


_FACTS: dict[int, tuple[x509.CertificateRevocationList, CrlFacts]] = {}
_CACHE_MAX = 4096  # entries of each cache here; emptied when full


def crl_facts(crl: x509.CertificateRevocationList) -> CrlFacts:
    """The CRL's scope and critical extensions (cached per CRL object)."""
    cached = _FACTS.get(id(crl))
    if cached is not None and cached[0] is crl:
        return cached[1]
    delta = False
    idp: x509.IssuingDistributionPoint | None = None
    unknown: str | None = None
    for extension in crl.extensions:
        if extension.oid == ExtensionOID.DELTA_CRL_INDICATOR:
            delta = True
        elif isinstance(extension.value, x509.IssuingDistributionPoint):
            idp = extension.value
        if extension.critical and extension.oid not in _HANDLED_CRITICAL and unknown is None:
            unknown = extension.oid.dotted_string
    if unknown is None:
        for entry in crl:
            for extension in entry.extensions:
                if extension.critical and extension.oid != CRLEntryExtensionOID.CERTIFICATE_ISSUER:
                    unknown = extension.oid.dotted_string
                    break
            if unknown is not None:
                break
    facts = CrlFacts(delta, idp, unknown)
    if len(_FACTS) >= _CACHE_MAX:
        _FACTS.clear()
    _FACTS[id(crl)] = (crl, facts)
    return facts


#: Whether a CRL's signature verifies with a CA's key, by the identity of the (immutable) CRL
#: and certificate objects, which are kept with the result so that an id is never reused.
_SIGNATURES: dict[
    tuple[int, int], tuple[x509.CertificateRevocationList, x509.Certificate, bool]
] = {}


def _signature_valid(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    cached = _SIGNATURES.get((id(crl), id(ca)))
    if cached is not None and cached[0] is crl and cached[1] is ca:
        return cached[2]
    valid = crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    if len(_SIGNATURES) >= _CACHE_MAX:
        _SIGNATURES.clear()
    _SIGNATURES[(id(crl), id(ca))] = (crl, ca, valid)
    return valid


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _full_names(
    point: Sequence[x509.GeneralName] | None,
    relative: x509.RelativeDistinguishedName | None,
    issuer: x509.Name,
) -> list[x509.GeneralName]:
    if point is not None:
        return list(point)
    if relative is not None:
        return [x509.DirectoryName(x509.Name([*issuer.rdns, relative]))]
    return []


def _out_of_scope(cert: x509.Certificate, crl: x509.CertificateRevocationList) -> str | None:
    """Why ``crl`` does not cover ``cert`` completely, or None when it does."""
    facts = crl_facts(crl)
    if facts.delta:
        return "a delta CRL, not a complete one"
    idp = facts.idp
    if idp is not None:
        if idp.indirect_crl:
            return "an indirect CRL"
        if idp.only_some_reasons is not None:
            return "limited to some revocation reasons"
        flags = (
            idp.only_contains_user_certs,
            idp.only_contains_ca_certs,
            idp.only_contains_attribute_certs,
        )
        if sum(flags) > 1:
            return "an invalid issuingDistributionPoint"
        if idp.only_contains_attribute_certs:
            return "only for attribute certificates"
        constraints = _extension(cert, x509.BasicConstraints)
        is_ca = isinstance(constraints, x509.BasicConstraints) and constraints.ca
        if is_ca and idp.only_contains_user_certs:
            return "only for end-entity certificates"
        if not is_ca and idp.only_contains_ca_certs:
            return "only for CA certificates"
    idp_names = _full_names(idp.full_name, idp.relative_name, crl.issuer) if idp is not None else []
    points = _extension(cert, x509.CRLDistributionPoints)
    for point in points if isinstance(points, x509.CRLDistributionPoints) else []:
        if point.crl_issuer is not None and not any(
            isinstance(name, x509.DirectoryName) and name.value == crl.issuer
            for name in point.crl_issuer
        ):
            continue
        names = _full_names(point.full_name, point.relative_name, cert.issuer)
        if not idp_names or not names or any(name in idp_names for name in names):
            return "limited to some revocation reasons" if point.reasons is not None else None
    if idp_names:
        return "for another distribution point than the certificate's"
    return None


def _current(crl: x509.CertificateRevocationList, at: datetime) -> str | None:
    if at < crl.last_update_utc:
        return f"not valid before {crl.last_update_utc:%Y-%m-%dT%H:%M:%SZ}"
    if crl.next_update_utc is not None and at > crl.next_update_utc:
        return f"CRL expired at {crl.next_update_utc:%Y-%m-%dT%H:%M:%SZ}"
    return None


@dataclass(frozen=True)
class CrlChoice:
    """The CRL that decides (None if there is none) and why each other file was passed over."""

    crl: x509.CertificateRevocationList | None
    path: Path | None
    problems: tuple[str, ...]


def choose_crl(
    cert: x509.Certificate,
    crls: Sequence[tuple[x509.CertificateRevocationList, Path]],
    ca_certificate: x509.Certificate,
    at: datetime,
) -> CrlChoice:
    """The current, complete CRL covering ``cert`` issued last among ``crls`` (its CA's).

    The chosen CRL's signature is checked only after the choice, as OpenSSL does: a newer CRL
    whose signature fails is a failure, not a reason to fall back on an older one.
    """
    problems: list[str] = []
    best: tuple[x509.CertificateRevocationList, Path] | None = None
    for crl, path in crls:
        facts = crl_facts(crl)
        reason = (
            f"unhandled critical extension {facts.unknown_critical}"
            if facts.unknown_critical is not None
            else _out_of_scope(cert, crl) or _current(crl, at)
        )
        if reason is not None:
            problems.append(f"{path.name}: {reason}")
        elif best is None or crl.last_update_utc > best[0].last_update_utc:
            best = (crl, path)
    if best is None:
        return CrlChoice(None, None, tuple(problems))
    crl, path = best
    key_usage = _extension(ca_certificate, x509.KeyUsage)
    weak = weak_signature_algorithm(crl.signature_algorithm_oid)
    reason = None
    if isinstance(key_usage, x509.KeyUsage) and not key_usage.crl_sign:
        reason = "the CA's keyUsage does not allow cRLSign"
    elif weak is not None:
        reason = f"CRL signed with {weak}, which is broken"
    elif not _signature_valid(crl, ca_certificate):
        reason = "CRL signature does not verify"
    if reason is not None:
        return CrlChoice(None, None, (*problems, f"{path.name}: {reason}"))
    return CrlChoice(crl, path, tuple(problems))


def is_revoked(crl: x509.CertificateRevocationList, serial: int) -> x509.RevokedCertificate | None:
    """The entry revoking ``serial``; an entry with reason removeFromCRL does not revoke."""
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    if entry is None:
        return None
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return entry
    return None if reason is x509.ReasonFlags.remove_from_crl else entry
