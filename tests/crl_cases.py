"""Trust directories whose CRLs are scoped, partial, deltas or several (issue 9.2).

Each case is the standard test PKI (root and intermediate, the root's CRL as usual) with other
CRL files for one CA. :func:`build_crl_cases` writes them under a base directory and returns
them by name; the oracle (tests/test_oracle.py) and the security tests (tests/security/
test_crl_scope.py) share them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ObjectIdentifier

from tests.pki import ENDORSER_PREFIX, Credential, IgtfDirectory, TestPki, _aki, parse_oneline
from tests.signers import issue

__all__ = ["CRL_CASES", "CrlCase", "build_crl_cases", "scoped_crl"]

DAY = dt.timedelta(days=1)


def scoped_crl(
    issuer: Credential,
    now: dt.datetime,
    *,
    revoked: tuple[int, ...] = (),
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    age_days: int = 1,
    expired: bool = False,
    number: int = 1,
    critical_entry: bool = False,
) -> x509.CertificateRevocationList:
    """A CRL of ``issuer`` with extra extensions (issuingDistributionPoint, delta, ...)."""
    last = now - age_days * DAY
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(last)
        .next_update(now - DAY / 2 if expired else now + 30 * DAY)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    aki = _aki(issuer)
    if aki is not None:
        builder = builder.add_extension(aki, critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(last).build()
        )
    if critical_entry:  # another certificate's entry, with an unknown critical extension
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(12345)
            .revocation_date(last)
            .add_extension(
                x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.2"), b"\x05\x00"),
                critical=True,
            )
        )
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(issuer.key, hashes.SHA256())


def _idp(**flags: object) -> x509.IssuingDistributionPoint:
    values: dict[str, object] = {
        "full_name": None,
        "relative_name": None,
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }
    values.update(flags)
    return x509.IssuingDistributionPoint(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CrlCase:
    """A trust directory; who signs; whether we accept (else the exit-11 reason we give)."""

    id: str
    signer: str  # TestPki attribute, or one of SIGNERS
    refusal: str | None  # a phrase of our one-line message, None when we accept
    openssl_accepts: bool


CRL_CASES: list[CrlCase] = [
    CrlCase("only-ca-certs", "revoked", "only for CA certificates", False),
    CrlCase("only-user-certs-root", "good", "only for end-entity certificates", False),
    CrlCase("only-user-certs-intermediate", "revoked", "was revoked", False),
    CrlCase("only-user-certs-intermediate-good", "good", None, True),
    CrlCase("only-some-reasons", "revoked", "limited to some revocation reasons", False),
    CrlCase("indirect", "revoked", "an indirect CRL", False),
    CrlCase("only-attribute-certs", "revoked", "only for attribute certificates", False),
    CrlCase("delta-only", "revoked", "a delta CRL", False),
    CrlCase("critical-unknown-extension", "revoked", "unhandled critical extension", False),
    CrlCase("critical-unknown-entry-extension", "revoked", "unhandled critical extension", False),
    CrlCase("matching-distribution-point", "dp_signer", None, True),
    CrlCase("matching-distribution-point-revoked", "dp_signer", "was revoked", False),
    CrlCase("distribution-point-limits-reasons", "dp_reasons_signer", "some revocation", False),
    CrlCase("other-distribution-point", "revoked", "another distribution point", False),
    CrlCase("several-files-newest-decides", "revoked", "was revoked", False),
    CrlCase("several-files-newest-decides-good", "good", None, True),
    CrlCase("several-files-expired-and-current", "revoked", "was revoked", False),
    CrlCase("several-files-delta-and-complete", "revoked", "was revoked", False),
    CrlCase("several-files-scoped-and-complete", "revoked", "was revoked", False),
]


#: Signers made for these cases: a cRLDistributionPoints of the intermediate's CRL URL, and the
#: same limited to the keyCompromise reason.
SIGNERS = ("dp_signer", "dp_reasons_signer")
DP_URL = "http://crl.imagelist-test.example/intermediate.crl"


def build_crl_cases(pki: TestPki, base: Path) -> dict[str, tuple[Path, Credential]]:
    """Write every case's trust directory under ``base``; return it and the signer by case id."""
    now, inter, root = pki.now, pki.intermediate, pki.root
    url = [x509.UniformResourceIdentifier(DP_URL)]
    reasons = frozenset({x509.ReasonFlags.key_compromise})
    signers = {
        "dp_signer": issue(
            inter,
            parse_oneline(ENDORSER_PREFIX + "DP Endorser"),
            now=now,
            extensions=(
                (
                    x509.CRLDistributionPoints([x509.DistributionPoint(url, None, None, None)]),
                    False,
                ),
            ),
        ),
        "dp_reasons_signer": issue(
            inter,
            parse_oneline(ENDORSER_PREFIX + "DP Reasons Endorser"),
            now=now,
            extensions=(
                (
                    x509.CRLDistributionPoints([x509.DistributionPoint(url, None, reasons, None)]),
                    False,
                ),
            ),
        ),
    }
    same_dp = (_idp(full_name=url), True)
    revoked = (pki.revoked.serial,)
    unknown = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    delta = (x509.DeltaCRLIndicator(1), True)
    other_dp = _idp(full_name=[x509.UniformResourceIdentifier("http://crl.example/other.crl")])
    complete = scoped_crl(inter, now, revoked=revoked, age_days=3)
    intermediate_crls: dict[str, list[x509.CertificateRevocationList]] = {
        "only-ca-certs": [
            scoped_crl(inter, now, extensions=((_idp(only_contains_ca_certs=True), True),))
        ],
        "only-user-certs-intermediate": [
            scoped_crl(
                inter,
                now,
                revoked=revoked,
                extensions=((_idp(only_contains_user_certs=True), True),),
            )
        ],
        "only-some-reasons": [
            scoped_crl(
                inter,
                now,
                extensions=(
                    (_idp(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise})), True),
                ),
            )
        ],
        "indirect": [scoped_crl(inter, now, extensions=((_idp(indirect_crl=True), True),))],
        "only-attribute-certs": [
            scoped_crl(inter, now, extensions=((_idp(only_contains_attribute_certs=True), True),))
        ],
        "delta-only": [scoped_crl(inter, now, extensions=(delta,), number=2)],
        "critical-unknown-extension": [scoped_crl(inter, now, extensions=((unknown, True),))],
        "critical-unknown-entry-extension": [scoped_crl(inter, now, critical_entry=True)],
        "matching-distribution-point": [scoped_crl(inter, now, extensions=(same_dp,))],
        "matching-distribution-point-revoked": [
            scoped_crl(inter, now, revoked=(signers["dp_signer"].serial,), extensions=(same_dp,))
        ],
        "distribution-point-limits-reasons": [scoped_crl(inter, now)],
        "other-distribution-point": [scoped_crl(inter, now, extensions=((other_dp, True),))],
        "several-files-newest-decides": [
            scoped_crl(inter, now, age_days=3),
            scoped_crl(inter, now, revoked=revoked, age_days=1, number=2),
        ],
        "several-files-expired-and-current": [
            scoped_crl(inter, now, age_days=40, expired=True),
            scoped_crl(inter, now, revoked=revoked, number=2),
        ],
        "several-files-delta-and-complete": [
            complete,
            scoped_crl(inter, now, extensions=(delta,), number=2),
        ],
        "several-files-scoped-and-complete": [
            scoped_crl(inter, now, extensions=((_idp(only_contains_ca_certs=True), True),)),
            complete,
        ],
    }
    intermediate_crls["only-user-certs-intermediate-good"] = intermediate_crls[
        "only-user-certs-intermediate"
    ]
    intermediate_crls["several-files-newest-decides-good"] = intermediate_crls[
        "several-files-newest-decides"
    ]
    root_crl_of = {
        "only-user-certs-root": scoped_crl(
            root, now, extensions=((_idp(only_contains_user_certs=True), True),)
        )
    }
    directories: dict[str, tuple[Path, Credential]] = {}
    for case in CRL_CASES:
        directory = IgtfDirectory(base / case.id)
        directory.add_ca(root, crl=root_crl_of.get(case.id, pki.root_crl))
        crls = intermediate_crls.get(case.id, [pki.intermediate_crl])
        directory.add_ca(inter, crl=crls[0])
        for index, crl in enumerate(crls[1:], start=1):
            directory.write_crl(inter, crl, index=index)
        signer = signers[case.signer] if case.signer in signers else getattr(pki, case.signer)
        directories[case.id] = (directory.path, signer)
    return directories
