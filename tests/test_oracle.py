"""The openssl CLI as the independent oracle for imagelist's S/MIME, trust path and DN code.

* Lists we sign (:func:`imagelist.smime.sign_detached`) verify with ``openssl smime -verify``,
  and openssl's output content is exactly our ``read_signed(...).payload``.
* Lists ``openssl smime -sign`` makes verify with :class:`imagelist.verify.ListVerifier`.
* The agreement matrix: for every case both verifiers accept, or both reject (and we reject with
  the specific exception class). The known, deliberate disagreements are the IGTF namespace
  policies (openssl knows nothing of them) and our "exactly one signer" rule.
* One-line DNs and subject hashes are byte-identical to ``openssl x509 -nameopt compat``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from imagelist.document import Endorser, Image, ImageList
from imagelist.errors import (
    CertificateExpiredError,
    CertificateRevokedError,
    CrlError,
    KeyUsageError,
    NamespacePolicyError,
    SignatureError,
    SignerCountError,
    UntrustedSignerError,
    VerificationError,
    WeakKeyError,
)
from imagelist.smime import canonicalize_crlf, read_signed, sign_detached
from imagelist.trust import (
    CrlPolicy,
    KeyPolicy,
    TrustStore,
    dn_matches,
    issuer_oneline,
    name_oneline,
    subject_hash,
    subject_oneline,
)
from imagelist.trust.dn import pinned_oneline
from imagelist.verify import ListVerifier
from tests.crl_cases import CRL_CASES, CrlCase, build_crl_cases
from tests.key_cases import KEY_CASES, KeyCase, build_key_cases
from tests.pki import (
    ENDORSER_PREFIX,
    Credential,
    IgtfDirectory,
    TestPki,
    cached_key,
    openssl_smime_sign,
    openssl_smime_verify,
)

pytestmark = pytest.mark.peer

# ------------------------------------------------------------------------------------------
# Helpers


def make_list(cred: Credential, *, title: str = "Oracle test list") -> ImageList:
    """A realistic image list endorsed by ``cred`` (hv:dn/hv:ca = its one-line subject/issuer)."""
    return ImageList(
        identifier="6f1d3c2e-5b7a-4e1f-9a0c-3d2b1a0f9e8d",
        title=title,
        description="Images checked against the openssl oracle: ünïcødé and 日本語 included",
        source="https://imagelist-test.example/",
        created=dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC),
        expires=dt.datetime(2499, 12, 31, 22, 0, 0, tzinfo=dt.UTC),
        version="20260101120000",
        uri="https://imagelist-test.example/oracle.list",
        endorsers=(
            Endorser(
                dn=subject_oneline(cred.cert),
                ca=issuer_oneline(cred.cert),
                email="endorser@imagelist-test.example",
                creator="Oracle Endorser",
            ),
        ),
        images=(
            Image(
                identifier="0b8e3e4a-1d5c-4c7e-8f2a-6b9d0c1e2f3a",
                title="CentOS 7 (KVM)",
                description="A plain image",
                uri="https://imagelist-test.example/images/centos7.qcow2",
                size=2147483648,
                sha512=hashlib.sha512(b"image one").hexdigest(),
                arch="x86_64",
                os="Linux",
                osversion="CentOS 7",
                comments="",
                hypervisor="KVM",
                version="1.0",
            ),
            Image(
                identifier="9c7d6e5f-4a3b-4c2d-9e1f-0a1b2c3d4e5f",
                title="Ubuntu 24.04 [AppDB]",
                description="An AppDB-shaped image with extra keys",
                uri="https://imagelist-test.example/images/ubuntu.ova",
                size=121243136,
                sha512=hashlib.sha512(b"image two").hexdigest(),
                arch="x86_64",
                os="Linux",
                osversion="24.04",
                comments="café, naïve",
                hypervisor="kvm",
                version="24.04-1",
                unrecognized_fields={
                    "hv:format": "OVA",
                    "ad:mpuri": "https://appdb.example/store/vm/image/9c7d6e5f:42/",
                    "dc:date:expires": "2499-12-31T22:00:00Z",
                    "hv:ram_minimum": "512",
                },
            ),
        ),
        unrecognized_fields={"ad:vo": "oracle.vo.example"},
    )


def py2_style(imagelist: ImageList) -> bytes:
    """The JSON layout vmcaster wrote: sorted keys, indent 4, ``", "`` (trailing spaces), LF."""
    text = json.dumps(
        imagelist.to_dict(), sort_keys=True, indent=4, separators=(", ", ": "), ensure_ascii=False
    )
    return text.encode("utf-8") + b"\n"


PAYLOAD_SHAPES: dict[str, Callable[[ImageList], bytes]] = {
    "to_json_bytes": lambda il: il.to_json_bytes(),
    "trailing-newline": lambda il: il.to_json_bytes() + b"\n",
    "py2-trailing-spaces": py2_style,
    "already-crlf": lambda il: il.to_json_bytes().replace(b"\n", b"\r\n") + b"\r\n",
}


def signed_content(payload: bytes) -> bytes:
    """What a clear-signed message signs: CRLF line ends, the final line end not included."""
    return canonicalize_crlf(payload).removesuffix(b"\r\n")


_STORES: dict[tuple[Path, str], TrustStore] = {}


def store_for(directory: Path) -> TrustStore:
    """Trust stores are read once per directory (the session PKI does not change)."""
    key = (directory, str(directory.stat().st_mtime_ns))
    if key not in _STORES:
        _STORES[key] = TrustStore.load(directory)
    return _STORES[key]


def verifier(directory: Path, policy: CrlPolicy = CrlPolicy.REQUIRE) -> ListVerifier:
    return ListVerifier(store_for(directory), crl_policy=policy)


def assert_one_line_verification_error(exc: BaseException) -> None:
    assert isinstance(exc, VerificationError)
    assert exc.exit_code == 11
    text = str(exc)
    assert text
    assert "\n" not in text
    assert "\r" not in text


def tamper(signed: bytes) -> bytes:
    """Change one byte inside the JSON part (the first character of the dc:title value)."""
    marker = b'"dc:title": "'
    index = signed.index(marker) + len(marker)
    original = signed[index : index + 1]
    replacement = b"X" if original != b"X" else b"Y"
    tampered = signed[:index] + replacement + signed[index + 1 :]
    assert tampered != signed
    return tampered


@pytest.fixture(scope="module")
def root_only_dir(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the root CA (with its CRL): the intermediate must come with the message."""
    directory = IgtfDirectory(tmp_path_factory.mktemp("root-only"))
    directory.add_ca(test_pki.root, crl=test_pki.root_crl)
    return directory.path


def trust_path(test_pki: TestPki, root_only_dir: Path, name: str) -> Path:
    if name == "root_only_dir":
        return root_only_dir
    path = getattr(test_pki, name)
    assert isinstance(path, Path)
    return path


# ------------------------------------------------------------------------------------------
# 1. What we sign, openssl verifies


@pytest.mark.parametrize("shape", sorted(PAYLOAD_SHAPES))
@pytest.mark.parametrize(
    ("digest", "micalg"),
    [("sha256", "sha-256"), ("sha1", "sha1"), ("sha384", "sha-384"), ("sha512", "sha-512")],
)
def test_our_signature_verifies_with_openssl(
    openssl: str, test_pki: TestPki, digest: str, micalg: str, shape: str
) -> None:
    imagelist = make_list(test_pki.good)
    payload = PAYLOAD_SHAPES[shape](imagelist)
    signed = sign_detached(payload, test_pki.good.cert, test_pki.good.key, digest=digest)
    assert f'micalg="{micalg}"'.encode() in signed

    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"Verification successful" in proc.stderr

    message = read_signed(signed)
    assert proc.stdout == message.payload
    assert message.payload == signed_content(payload)
    assert message.digest_algorithm == digest
    assert message.detached is True
    assert ImageList.from_bytes(message.payload) == imagelist

    verified = verifier(test_pki.trust_dir).verify(signed)
    assert verified.imagelist == imagelist
    assert verified.signer_dn == test_pki.good.subject_oneline
    assert verified.signer_ca == test_pki.good.issuer_oneline


@pytest.mark.parametrize(
    ("signer", "capath"),
    [("direct", "trust_dir"), ("v1_endorser", "v1_root_dir")],
)
def test_our_signature_verifies_with_openssl_other_chains(
    openssl: str, test_pki: TestPki, signer: str, capath: str
) -> None:
    cred: Credential = getattr(test_pki, signer)
    imagelist = make_list(cred)
    signed = sign_detached(imagelist.to_json_bytes(), cred.cert, cred.key)
    proc = openssl_smime_verify(openssl, signed, getattr(test_pki, capath))
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout == read_signed(signed).payload


# ------------------------------------------------------------------------------------------
# 2. What openssl signs, we verify


@pytest.mark.parametrize(
    ("md", "nodetach", "extra", "digest"),
    [
        pytest.param("sha256", False, False, "sha256", id="default"),
        pytest.param("sha1", False, False, "sha1", id="md-sha1"),
        pytest.param("sha512", False, False, "sha512", id="md-sha512"),
        pytest.param("sha256", True, False, "sha256", id="nodetach"),
        pytest.param("sha256", False, True, "sha256", id="certfile-intermediate"),
    ],
)
@pytest.mark.parametrize("shape", ["to_json_bytes", "trailing-newline", "py2-trailing-spaces"])
def test_openssl_signature_verifies_with_us(
    openssl: str,
    test_pki: TestPki,
    md: str,
    nodetach: bool,
    extra: bool,
    digest: str,
    shape: str,
) -> None:
    imagelist = make_list(test_pki.good)
    payload = PAYLOAD_SHAPES[shape](imagelist)
    signed = openssl_smime_sign(
        openssl,
        test_pki.good,
        payload,
        md=md,
        nodetach=nodetach,
        extra_certs=[test_pki.intermediate] if extra else [],
    )
    verified = verifier(test_pki.trust_dir).verify(signed)
    assert verified.imagelist == imagelist
    assert ImageList.from_bytes(verified.payload) == imagelist
    assert verified.message.digest_algorithm == digest
    assert verified.message.detached is not nodetach
    assert verified.endorser == imagelist.endorser
    assert verified.chain == (
        test_pki.good.cert,
        test_pki.intermediate.cert,
        test_pki.root.cert,
    )
    # The exact content openssl signed is what we hand on.
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert verified.payload == proc.stdout
    # openssl canonicalises the text (CRLF) and signs it with its final line end, if any, in
    # both the clear-signed and the opaque form.
    assert verified.payload == canonicalize_crlf(payload)


# ------------------------------------------------------------------------------------------
# 3. The agreement matrix


@dataclass(frozen=True)
class Case:
    id: str
    signer: str  # TestPki attribute
    capath: str  # TestPki attribute (or "root_only_dir")
    ours: type[VerificationError] | None  # None: we accept
    openssl_accepts: bool
    tampered: bool = False
    second_signer: str | None = None  # openssl cms -sign with two signers
    extra_certs: tuple[str, ...] = ()
    signers: tuple[str, ...] = ("ours", "openssl")  # who makes the signed message


CASES: list[Case] = [
    # both accept
    Case("good", "good", "trust_dir", None, True),
    Case("direct-from-root", "direct", "trust_dir", None, True),
    Case("v1-root-chain", "v1_endorser", "v1_root_dir", None, True),
    # both reject
    Case(
        "intermediate-only-in-message",
        "good",
        "root_only_dir",
        CrlError,
        False,
        extra_certs=("intermediate",),
        signers=("openssl",),
    ),
    Case("tampered-payload", "good", "trust_dir", SignatureError, False, tampered=True),
    Case("untrusted-ca", "untrusted_endorser", "trust_dir", UntrustedSignerError, False),
    Case("revoked", "revoked", "trust_dir", CertificateRevokedError, False),
    Case("stale-crl", "good", "stale_crl_dir", CrlError, False),
    Case("missing-crl", "good", "missing_crl_dir", CrlError, False),
    Case("root-without-crl", "good", "no_root_crl_dir", CrlError, False),
    Case("direct-root-without-crl", "direct", "no_root_crl_dir", CrlError, False),
    Case("expired", "expired", "trust_dir", CertificateExpiredError, False),
    Case("not-yet-valid", "not_yet_valid", "trust_dir", CertificateExpiredError, False),
    Case("wrong-key-usage", "wrong_key_usage", "trust_dir", KeyUsageError, False),
    Case("wrong-eku", "wrong_eku", "trust_dir", KeyUsageError, False),
    Case("impostor", "impostor", "trust_dir", UntrustedSignerError, False),
    Case("missing-intermediate", "good", "root_only_dir", UntrustedSignerError, False),
    Case(
        "two-signers-one-untrusted",
        "good",
        "trust_dir",
        SignerCountError,
        False,
        second_signer="untrusted_endorser",
        signers=("openssl",),
    ),
    # the known exception: openssl has no notion of IGTF namespaces
    Case("outside-namespace", "outside_namespace", "trust_dir", NamespacePolicyError, True),
]


def _matrix_params() -> list[object]:
    return [
        pytest.param(case, how, id=f"{case.id}-signed-by-{how}")
        for case in CASES
        for how in case.signers
    ]


def _make_signed(openssl: str, pki: TestPki, case: Case, how: str) -> bytes:
    cred: Credential = getattr(pki, case.signer)
    payload = make_list(cred).to_json_bytes()
    if how == "ours":
        assert case.second_signer is None
        assert not case.extra_certs
        signed = sign_detached(payload, cred.cert, cred.key)
    else:
        signed = openssl_smime_sign(
            openssl,
            cred,
            payload,
            extra_certs=[getattr(pki, name) for name in case.extra_certs],
            second_signer=getattr(pki, case.second_signer) if case.second_signer else None,
        )
    return tamper(signed) if case.tampered else signed


def test_matrix_disagreements_are_only_the_documented_ones() -> None:
    """openssl and we agree on every case but the namespace policy, which openssl lacks."""
    disagree = [case.id for case in CASES if (case.ours is None) != case.openssl_accepts]
    assert disagree == ["outside-namespace"]


@pytest.mark.parametrize(("case", "how"), _matrix_params())
def test_agreement_matrix(
    openssl: str, test_pki: TestPki, root_only_dir: Path, case: Case, how: str
) -> None:
    signed = _make_signed(openssl, test_pki, case, how)
    capath = trust_path(test_pki, root_only_dir, case.capath)

    proc = openssl_smime_verify(openssl, signed, capath)
    openssl_ok = proc.returncode == 0
    assert openssl_ok is case.openssl_accepts, proc.stderr.decode(errors="replace")

    ours = verifier(capath)
    if case.ours is None:
        verified = ours.verify(signed)
        assert verified.payload == proc.stdout
        assert verified.signer_dn == getattr(test_pki, case.signer).subject_oneline
        return
    with pytest.raises(VerificationError) as excinfo:
        ours.verify(signed)
    assert excinfo.type is case.ours, str(excinfo.value)
    assert_one_line_verification_error(excinfo.value)


def test_message_carried_intermediate_is_trusted_when_crls_are_relaxed(
    openssl: str, test_pki: TestPki, root_only_dir: Path
) -> None:
    """An intermediate that only comes with the message has no CRL in the directory: with CRLs
    required we reject (CrlError) as openssl does ('unable to get certificate CRL'); both accept
    it once CRLs are not demanded (IF_PRESENT / no -crl_check_all)."""
    case = next(c for c in CASES if c.id == "intermediate-only-in-message")
    signed = _make_signed(openssl, test_pki, case, "openssl")
    proc = openssl_smime_verify(openssl, signed, root_only_dir)
    assert proc.returncode != 0
    assert b"unable to get certificate CRL" in proc.stderr
    relaxed = openssl_smime_verify(openssl, signed, root_only_dir, crl_check_all=False)
    assert relaxed.returncode == 0, relaxed.stderr.decode(errors="replace")
    verified = verifier(root_only_dir, CrlPolicy.IF_PRESENT).verify(signed)
    assert verified.chain[1] == test_pki.intermediate.cert


def test_outside_namespace_openssl_accepts_we_reject(openssl: str, test_pki: TestPki) -> None:
    """The namespace rule is ours (smimeX509validation's), not OpenSSL's."""
    cred = test_pki.outside_namespace
    signed = openssl_smime_sign(openssl, cred, make_list(cred).to_json_bytes())
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    with pytest.raises(NamespacePolicyError) as excinfo:
        verifier(test_pki.trust_dir).verify(signed)
    assert excinfo.type is NamespacePolicyError
    assert_one_line_verification_error(excinfo.value)
    assert "/DC=org/DC=evil/CN=Mallory" in str(excinfo.value)
    # The signature itself is fine: only the policy rejects it.
    assert read_signed(signed).payload == proc.stdout


def test_two_trusted_signers_openssl_accepts_we_reject(openssl: str, test_pki: TestPki) -> None:
    """Our deliberate rule (smimeX509validation's "To many keys"): exactly one signer.

    OpenSSL verifies every signer and accepts when all are trusted; we refuse the message.
    """
    payload = make_list(test_pki.good).to_json_bytes()
    signed = openssl_smime_sign(openssl, test_pki.good, payload, second_signer=test_pki.direct)
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    with pytest.raises(SignerCountError) as excinfo:
        read_signed(signed)
    assert excinfo.type is SignerCountError
    assert_one_line_verification_error(excinfo.value)
    assert "2 signers" in str(excinfo.value)
    with pytest.raises(SignerCountError):
        verifier(test_pki.trust_dir).verify(signed)


def test_tampered_openssl_reason_is_a_digest_failure(openssl: str, test_pki: TestPki) -> None:
    signed = tamper(sign_detached(b'{"dc:title": "abc"}', test_pki.good.cert, test_pki.good.key))
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 4
    assert b"digest failure" in proc.stderr
    with pytest.raises(SignatureError, match="digest does not match"):
        read_signed(signed)


# ------------------------------------------------------------------------------------------
# 4. CRL relaxed mode and DER CRLs (ours only)


@pytest.mark.parametrize(
    ("signer", "capath", "expected"),
    [
        # A CA without any CRL file passes in IF_PRESENT mode...
        ("good", "missing_crl_dir", None),
        ("good", "no_root_crl_dir", None),
        ("direct", "no_root_crl_dir", None),
        # ...which means a revocation nobody fetched goes unnoticed (the price of the mode).
        ("revoked", "missing_crl_dir", None),
        # A CA that has CRL files but none of them current is still rejected.
        ("good", "stale_crl_dir", CrlError),
        # A current CRL is still used.
        ("revoked", "trust_dir", CertificateRevokedError),
        ("good", "trust_dir", None),
    ],
)
def test_crl_if_present_policy(
    test_pki: TestPki, signer: str, capath: str, expected: type[VerificationError] | None
) -> None:
    cred: Credential = getattr(test_pki, signer)
    signed = sign_detached(make_list(cred).to_json_bytes(), cred.cert, cred.key)
    ours = verifier(getattr(test_pki, capath), CrlPolicy.IF_PRESENT)
    if expected is None:
        assert ours.verify(signed).signer_dn == cred.subject_oneline
        return
    with pytest.raises(VerificationError) as excinfo:
        ours.verify(signed)
    assert excinfo.type is expected
    assert_one_line_verification_error(excinfo.value)
    if expected is CrlError:
        assert "CRL expired at" in str(excinfo.value)


def test_crl_if_present_agrees_with_openssl_without_crl_checks(
    openssl: str, test_pki: TestPki
) -> None:
    """Where no CRL exists, IF_PRESENT behaves like openssl without -crl_check_all."""
    cred = test_pki.good
    signed = sign_detached(make_list(cred).to_json_bytes(), cred.cert, cred.key)
    proc = openssl_smime_verify(openssl, signed, test_pki.missing_crl_dir, crl_check_all=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    verified = verifier(test_pki.missing_crl_dir, CrlPolicy.IF_PRESENT).verify(signed)
    assert verified.payload == proc.stdout


# No oracle here: OpenSSL's -CApath lookup reads only PEM CRLs, a DER <hash>.r0 is an error for
# it (see test_pki.test_der_crl_is_not_read_by_openssl_capath). fetch-crl can write either form.
@pytest.mark.parametrize(
    ("signer", "expected"),
    [("good", None), ("direct", None), ("revoked", CertificateRevokedError)],
)
def test_der_crls(test_pki: TestPki, signer: str, expected: type[VerificationError] | None) -> None:
    cred: Credential = getattr(test_pki, signer)
    signed = sign_detached(make_list(cred).to_json_bytes(), cred.cert, cred.key)
    ours = verifier(test_pki.der_crl_dir)
    if expected is None:
        assert ours.verify(signed).signer_dn == cred.subject_oneline
        return
    with pytest.raises(VerificationError) as excinfo:
        ours.verify(signed)
    assert excinfo.type is expected
    assert_one_line_verification_error(excinfo.value)


# ------------------------------------------------------------------------------------------
# 5. DN rendering: subject_oneline/issuer_oneline/subject_hash against openssl x509

A = x509.NameAttribute


def rdn(*attributes: x509.NameAttribute[Any]) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName(list(attributes))


def single(
    oid: x509.ObjectIdentifier,
    value: str,
    *,
    kind: _ASN1Type | None = None,
    validate: bool = True,
) -> list[x509.RelativeDistinguishedName]:
    """A name of one single-valued RDN, with an explicit ASN.1 string type if ``kind``.

    ``validate=False`` allows values cryptography would refuse (an empty CN), silently.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return [rdn(A(oid, value, _type=kind, _validate=validate))]


DN_CASES: dict[str, list[x509.RelativeDistinguishedName]] = {
    "igtf-personal": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "ch")),
        rdn(A(NameOID.DOMAIN_COMPONENT, "cern")),
        rdn(A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Organic Units")),
        rdn(A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Users")),
        rdn(A(NameOID.COMMON_NAME, "buncic")),
        rdn(A(NameOID.COMMON_NAME, "379010")),
        rdn(A(NameOID.COMMON_NAME, "Predrag Buncic")),
    ],
    "utf8-latin": [
        rdn(A(NameOID.COUNTRY_NAME, "DE")),
        rdn(A(NameOID.ORGANIZATION_NAME, "Universität München")),
        rdn(A(NameOID.COMMON_NAME, "José Müller")),
    ],
    "utf8-cjk": [
        rdn(A(NameOID.ORGANIZATIONAL_UNIT_NAME, "研究所")),
        rdn(A(NameOID.COMMON_NAME, "山田 太郎")),
    ],
    "utf8-astral": single(NameOID.COMMON_NAME, "rocket 🚀"),
    "bmp-string": single(NameOID.COMMON_NAME, "Ünïcode", kind=_ASN1Type.BMPString),
    "bmp-string-ascii": single(NameOID.COMMON_NAME, "Plain", kind=_ASN1Type.BMPString),
    "bmp-string-cjk": single(NameOID.COMMON_NAME, "日本", kind=_ASN1Type.BMPString),
    "universal-string": single(NameOID.COMMON_NAME, "Uni", kind=_ASN1Type.UniversalString),
    "t61-string": single(NameOID.COMMON_NAME, "T61 name", kind=_ASN1Type.T61String),
    "t61-string-non-ascii": single(NameOID.COMMON_NAME, "Café", kind=_ASN1Type.T61String),
    "ia5-string": single(NameOID.COMMON_NAME, "ia5 name", kind=_ASN1Type.IA5String),
    "printable-spaces-and-case": [
        rdn(A(NameOID.COMMON_NAME, "  Mixed   CASE  value ", _type=_ASN1Type.PrintableString)),
        rdn(A(NameOID.ORGANIZATION_NAME, "ÉCOLE Supérieure")),
    ],
    "multi-valued-rdn": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Users"), A(NameOID.COMMON_NAME, "Bob")),
    ],
    "multi-valued-rdn-three": [
        rdn(
            A(NameOID.COMMON_NAME, "Bob"),
            A(NameOID.USER_ID, "bob"),
            A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Users"),
        ),
    ],
    "slash-in-value-grid-host": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.DOMAIN_COMPONENT, "terena")),
        rdn(A(NameOID.COMMON_NAME, "host/vm01.example.org")),
    ],
    "plus-equals-comma": single(NameOID.COMMON_NAME, "a+b=c, d;e"),
    "quotes-backslash-specials": single(NameOID.COMMON_NAME, '"q" \\b <x> #h'),
    "control-characters": single(NameOID.COMMON_NAME, "a\nb\tc\x7f"),
    "email-uid-serial": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "Org")),
        rdn(A(NameOID.USER_ID, "JDoe")),
        rdn(A(NameOID.SERIAL_NUMBER, "AbC-12345")),
        rdn(A(NameOID.EMAIL_ADDRESS, "J.Doe@Example.ORG")),
    ],
    "unknown-oid": [
        rdn(A(NameOID.COMMON_NAME, "known")),
        rdn(A(x509.ObjectIdentifier("1.2.3.4.5"), "unknown")),
    ],
    "dc-components": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.DOMAIN_COMPONENT, "Example")),
        rdn(A(NameOID.DOMAIN_COMPONENT, "SUB")),
        rdn(A(NameOID.COMMON_NAME, "DC Test")),
    ],
    "repeated-attribute": [rdn(A(NameOID.COMMON_NAME, "a")), rdn(A(NameOID.COMMON_NAME, "a"))],
    "other-named-attributes": [
        rdn(A(NameOID.COUNTRY_NAME, "DE")),
        rdn(A(NameOID.STATE_OR_PROVINCE_NAME, "Hamburg")),
        rdn(A(NameOID.LOCALITY_NAME, "Hamburg")),
        rdn(A(NameOID.STREET_ADDRESS, "Notkestr. 85")),
        rdn(A(NameOID.POSTAL_CODE, "22607")),
        rdn(A(NameOID.TITLE, "Dr")),
        rdn(A(NameOID.GIVEN_NAME, "Owen")),
        rdn(A(NameOID.SURNAME, "Synge")),
        rdn(A(NameOID.PSEUDONYM, "os")),
        rdn(A(NameOID.BUSINESS_CATEGORY, "Research")),
        rdn(A(NameOID.ORGANIZATION_IDENTIFIER, "NTRDE-123")),
        rdn(A(NameOID.DN_QUALIFIER, "q1")),
        rdn(A(NameOID.INITIALS, "O")),
        rdn(A(NameOID.GENERATION_QUALIFIER, "III")),
        rdn(A(NameOID.UNSTRUCTURED_NAME, "un")),
        rdn(A(NameOID.JURISDICTION_COUNTRY_NAME, "DE")),
    ],
    "empty-value": single(NameOID.COMMON_NAME, "", validate=False),
    "empty-name": [],
    # Look-alikes of /DC=org/O=a/CN=b (issue 9.1): each renders differently in OpenSSL 3.
    "lookalike-plain": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.ORGANIZATION_NAME, "a")),
        rdn(A(NameOID.COMMON_NAME, "bb")),
    ],
    "lookalike-slash-in-value": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.ORGANIZATION_NAME, "a/CN=bb")),
    ],
    "lookalike-multi-valued": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.ORGANIZATION_NAME, "a"), A(NameOID.COMMON_NAME, "bb")),
    ],
    "lookalike-backslash": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.ORGANIZATION_NAME, "a\\")),
        rdn(A(NameOID.COMMON_NAME, "bb")),
    ],
    "lookalike-printable": [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.ORGANIZATION_NAME, "a", _type=_ASN1Type.PrintableString)),
        rdn(A(NameOID.COMMON_NAME, "bb", _type=_ASN1Type.PrintableString)),
    ],
    "newline-and-equals": single(NameOID.ORGANIZATION_NAME, "a\n/CN=b=c,d"),
}


def _self_signed(name: x509.Name, *, issuer: x509.Name | None = None) -> x509.Certificate:
    key = cached_key("rsa", "oracle dn")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class OpensslNames:
    subject: str
    issuer: str
    subject_hash: str
    issuer_hash: str


def openssl_names(openssl: str, cert: x509.Certificate) -> OpensslNames:
    proc = subprocess.run(
        [
            openssl,
            "x509",
            "-noout",
            "-subject",
            "-issuer",
            "-hash",
            "-issuer_hash",
            "-nameopt",
            "compat",
        ],
        input=cert.public_bytes(serialization.Encoding.PEM),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    # X509_NAME_oneline escapes every byte outside printable ASCII: the output is ASCII.
    lines = proc.stdout.decode("ascii").split("\n")
    assert lines[0].startswith("subject=")
    assert lines[1].startswith("issuer=")
    return OpensslNames(
        subject=lines[0].removeprefix("subject="),
        issuer=lines[1].removeprefix("issuer="),
        subject_hash=lines[2],
        issuer_hash=lines[3],
    )


@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
@pytest.mark.parametrize("label", list(DN_CASES))
def test_dn_rendering_matches_openssl(openssl: str, label: str) -> None:
    name = x509.Name(DN_CASES[label])
    cert = _self_signed(name)
    expected = openssl_names(openssl, cert)
    assert subject_oneline(cert) == expected.subject
    assert issuer_oneline(cert) == expected.issuer
    assert name_oneline(name.public_bytes()) == expected.subject
    assert subject_hash(cert.subject.public_bytes()) == expected.subject_hash
    assert subject_hash(cert.issuer.public_bytes()) == expected.issuer_hash

    # The issuer form on its own: a certificate issued *by* that name to a plain subject.
    leaf = _self_signed(x509.Name([rdn(A(NameOID.COMMON_NAME, "Oracle Leaf"))]), issuer=name)
    leaf_expected = openssl_names(openssl, leaf)
    assert issuer_oneline(leaf) == leaf_expected.issuer == expected.subject
    assert subject_oneline(leaf) == leaf_expected.subject == "/CN=Oracle Leaf"
    assert subject_hash(leaf.issuer.public_bytes()) == leaf_expected.issuer_hash


def _what_matters(rdns: list[x509.RelativeDistinguishedName]) -> object:
    """A name's RDNs of (type, text): what two names must share to be the same (ADR 8)."""
    return [sorted((attr.oid.dotted_string, str(attr.value)) for attr in rd) for rd in rdns]


def test_no_name_matches_another_names_pinned_dn(openssl: str) -> None:
    """Every pinned DN is openssl's rendering, and matches no other name of the catalogue."""
    pinned: dict[str, str] = {}
    for label, rdns in DN_CASES.items():
        der = x509.Name(rdns).public_bytes()
        form = pinned_oneline(der)
        if form is not None:
            assert form == openssl_names(openssl, _self_signed(x509.Name(rdns))).subject
            pinned[label] = form
    assert "lookalike-backslash" not in pinned  # renders like lookalike-slash-in-value
    assert {"lookalike-plain", "lookalike-slash-in-value", "lookalike-multi-valued"} <= set(pinned)
    for label, form in pinned.items():
        for other, rdns in DN_CASES.items():
            if dn_matches(form, x509.Name(rdns).public_bytes()):
                assert _what_matters(rdns) == _what_matters(DN_CASES[label]), (label, other)
    assert pinned["lookalike-plain"] == pinned["lookalike-printable"] == "/DC=org/O=a/CN=bb"


def test_dn_rendering_of_the_test_pki(openssl: str, test_pki: TestPki) -> None:
    """The session PKI's names (computed with openssl when it was built) agree as well."""
    for cred in (test_pki.good, test_pki.direct, test_pki.v1_endorser, test_pki.impostor):
        assert subject_oneline(cred.cert) == cred.subject_oneline
        assert issuer_oneline(cred.cert) == cred.issuer_oneline
        assert subject_hash(cred.cert.subject.public_bytes()) == cred.subject_hash


# --- names beyond the common attribute types (oracle-found bugs, now fixed) -----------------


@pytest.mark.parametrize(
    ("oid", "value", "kind", "openssl_label"),
    [
        ("2.5.4.20", "+49 40 8998 0", _ASN1Type.PrintableString, "telephoneNumber"),
        ("0.9.2342.19200300.100.1.3", "jdoe@example.org", _ASN1Type.IA5String, "mail"),
        ("2.5.4.51", "7", _ASN1Type.UTF8String, "houseIdentifier"),
        ("2.5.4.19", "Room 1", _ASN1Type.UTF8String, "physicalDeliveryOfficeName"),
    ],
)
def test_dn_rendering_more_openssl_short_names(
    openssl: str, oid: str, value: str, kind: _ASN1Type, openssl_label: str
) -> None:
    name = x509.Name(single(x509.ObjectIdentifier(oid), value, kind=kind))
    cert = _self_signed(name)
    expected = openssl_names(openssl, cert)
    assert expected.subject.startswith(f"/{openssl_label}=")
    assert subject_oneline(cert) == expected.subject


@pytest.mark.parametrize(
    ("oid", "value", "kind"),
    [
        ("1.2.3.4.5", "Unknown Value", None),
        ("1.2.3.4.5", "unknown", _ASN1Type.PrintableString),
        ("2.5.4.19", "Room 1", None),
        ("0.9.2342.19200300.100.1.3", "jdoe@example.org", _ASN1Type.IA5String),
    ],
)
def test_subject_hash_of_attribute_types_asn1crypto_does_not_know(
    openssl: str, oid: str, value: str, kind: _ASN1Type | None
) -> None:
    name = x509.Name(single(x509.ObjectIdentifier(oid), value, kind=kind))
    expected = openssl_names(openssl, _self_signed(name))
    assert subject_hash(name.public_bytes()) == expected.subject_hash


@pytest.mark.parametrize(
    ("oid", "value", "kind", "openssl_subject"),
    [
        ("2.5.4.3", "12345", _ASN1Type.NumericString, "/CN=12345"),
        ("2.5.4.45", "uid-1", _ASN1Type.UTF8String, "/x500UniqueIdentifier=uid-1"),
        ("2.5.4.20", "+49", _ASN1Type.UTF8String, "/telephoneNumber=\\+49"),
    ],
)
def test_dn_rendering_unexpected_string_types(
    openssl: str, oid: str, value: str, kind: _ASN1Type, openssl_subject: str
) -> None:
    name = x509.Name(single(x509.ObjectIdentifier(oid), value, kind=kind))
    cert = _self_signed(name)
    expected = openssl_names(openssl, cert)
    assert expected.subject == openssl_subject
    assert subject_hash(cert.subject.public_bytes()) == expected.subject_hash
    assert subject_oneline(cert) == expected.subject


def _numeric_cn_endorser(pki: TestPki) -> x509.Certificate:
    """An endorser inside the intermediate's namespace whose CN is a NumericString."""
    key = cached_key("rsa", "numeric cn endorser")
    prefix = [
        rdn(A(NameOID.DOMAIN_COMPONENT, "org")),
        rdn(A(NameOID.DOMAIN_COMPONENT, "imagelist-test")),
        rdn(A(NameOID.ORGANIZATION_NAME, "Endorsers")),
    ]
    subject = x509.Name(
        [*prefix, rdn(A(NameOID.COMMON_NAME, "12345", _type=_ASN1Type.NumericString))]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.intermediate.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.now - dt.timedelta(days=1))
        .not_valid_after(pki.now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(pki.intermediate.key, hashes.SHA256())
    )


def test_signer_with_numeric_string_cn(openssl: str, test_pki: TestPki) -> None:
    cert = _numeric_cn_endorser(test_pki)
    signed = sign_detached(b'{"a": 1}', cert, cached_key("rsa", "numeric cn endorser"))
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert openssl_names(openssl, cert).subject == ENDORSER_PREFIX + "12345"
    verified = verifier(test_pki.trust_dir).verify_message(signed)
    assert verified.message.payload == proc.stdout


def test_read_signed_issuer_with_numeric_string(openssl: str) -> None:
    name = x509.Name(single(NameOID.COMMON_NAME, "12345", kind=_ASN1Type.NumericString))
    cert = _self_signed(name)
    signed = sign_detached(b'{"a": 1}', cert, cached_key("rsa", "oracle dn"))
    proc = subprocess.run(
        [openssl, "smime", "-verify", "-noverify"],
        input=signed,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert read_signed(signed).payload == proc.stdout


# ------------------------------------------------------------------------------------------
# 6. CRL scope: scoped, partial, delta and several CRL files (issue 9.2)


@pytest.fixture(scope="module")
def crl_dirs(
    test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Credential]]:
    return build_crl_cases(test_pki, tmp_path_factory.mktemp("crl-cases"))


# OpenSSL 3.0 takes a delta CRL for a complete one (fixed in later OpenSSL, which rejects deltas
# it is not asked to combine): a revoked signer passes there. We never use a delta as complete.
OPENSSL_30_DELTA_BUG = {"delta-only", "several-files-delta-and-complete"}


def test_crl_disagreements_are_only_the_documented_ones() -> None:
    disagree = {case.id for case in CRL_CASES if (case.refusal is None) != case.openssl_accepts}
    assert disagree == set()
    assert {case.id for case in CRL_CASES} >= OPENSSL_30_DELTA_BUG


@pytest.mark.parametrize("case", CRL_CASES, ids=[case.id for case in CRL_CASES])
def test_crl_scope_agreement(
    openssl: str, crl_dirs: dict[str, tuple[Path, Credential]], case: CrlCase
) -> None:
    capath, cred = crl_dirs[case.id]
    signed = sign_detached(make_list(cred).to_json_bytes(), cred.cert, cred.key)
    proc = openssl_smime_verify(openssl, signed, capath)
    openssl_ok = proc.returncode == 0
    if case.id in OPENSSL_30_DELTA_BUG and openssl_ok:
        # The known OpenSSL 3.0 defect: the delta is read as the complete CRL.
        pass
    else:
        assert openssl_ok is case.openssl_accepts, proc.stderr.decode(errors="replace")
    ours = verifier(capath)
    if case.refusal is None:
        assert ours.verify(signed).payload == proc.stdout
        return
    with pytest.raises(VerificationError) as excinfo:
        ours.verify(signed)
    assert_one_line_verification_error(excinfo.value)
    assert case.refusal in str(excinfo.value)
    expected = CertificateRevokedError if case.refusal == "was revoked" else CrlError
    assert excinfo.type is expected


def test_crl_scope_if_present_still_needs_a_covering_crl(
    test_pki: TestPki, crl_dirs: dict[str, tuple[Path, Credential]]
) -> None:
    """--crl if-present skips CAs without any CRL file, not CAs whose CRLs do not cover."""
    cred = test_pki.revoked
    signed = sign_detached(make_list(cred).to_json_bytes(), cred.cert, cred.key)
    with pytest.raises(CrlError, match="only for CA certificates"):
        verifier(crl_dirs["only-ca-certs"][0], CrlPolicy.IF_PRESENT).verify(signed)


# ------------------------------------------------------------------------------------------
# 7. Key and algorithm policy (issue 9.3): openssl has an opinion only with -auth_level


@pytest.fixture(scope="module")
def key_cases(
    test_pki: TestPki, openssl: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Credential, Path]]:
    return build_key_cases(test_pki, openssl, tmp_path_factory.mktemp("key-cases"))


# Where `openssl smime -verify -auth_level 2` (112-bit security) and our policy differ on purpose:
# we ask 128 bits of EC (P-256) and refuse a trust anchor whose self-signature uses MD5, which
# OpenSSL never looks at.
KEY_DIFFERENCES = {"ec-p224-signer", "md5-signed-root"}


def test_key_disagreements_are_only_the_documented_ones() -> None:
    disagree = {c.id for c in KEY_CASES if (c.refusal is None) != c.openssl_level2_accepts}
    assert disagree == KEY_DIFFERENCES


@pytest.mark.parametrize("case", KEY_CASES, ids=[case.id for case in KEY_CASES])
def test_key_policy_agreement(
    openssl: str, key_cases: dict[str, tuple[Credential, Path]], case: KeyCase
) -> None:
    cred, capath = key_cases[case.id]
    signed = sign_detached(make_list(cred).to_json_bytes(), cred.cert, cred.key)
    base = [openssl, "smime", "-verify", "-CApath", str(capath), "-no-CAfile", "-no-CAstore"]
    level2 = subprocess.run(
        [*base, "-crl_check_all", "-auth_level", "2"], input=signed, capture_output=True, timeout=60
    )
    assert (level2.returncode == 0) is case.openssl_level2_accepts, level2.stderr.decode()
    # Without -auth_level (the old tools' call) openssl accepts every one of them.
    default = subprocess.run(
        [*base, "-crl_check_all"], input=signed, capture_output=True, timeout=60
    )
    assert default.returncode == 0, default.stderr.decode()
    ours = verifier(capath)
    if case.refusal is None:
        assert ours.verify(signed).payload == default.stdout
        return
    with pytest.raises(WeakKeyError) as excinfo:
        ours.verify(signed)
    assert_one_line_verification_error(excinfo.value)
    assert case.refusal in str(excinfo.value)


def test_lowered_rsa_floor_agrees_with_openssl_auth_level_1(
    openssl: str, key_cases: dict[str, tuple[Credential, Path]], caplog: pytest.LogCaptureFixture
) -> None:
    """--min-rsa-bits 1024 is OpenSSL's -auth_level 1 (80 bits) for RSA: 1024 in, 512 out."""
    for case, accepted in (("rsa-1024-signer", True), ("rsa-512-signer", False)):
        cred, capath = key_cases[case]
        signed = sign_detached(make_list(cred).to_json_bytes(), cred.cert, cred.key)
        proc = subprocess.run(
            [
                openssl,
                "smime",
                "-verify",
                "-CApath",
                str(capath),
                "-no-CAfile",
                "-no-CAstore",
                "-crl_check_all",
                "-auth_level",
                "1",
            ],
            input=signed,
            capture_output=True,
            timeout=60,
        )
        assert (proc.returncode == 0) is accepted, proc.stderr.decode()
        ours = ListVerifier(store_for(capath), key_policy=KeyPolicy(min_rsa_bits=1024))
        if accepted:
            assert ours.verify(signed).payload == proc.stdout
            assert "accepted only because the RSA floor is lowered" in caplog.text
        else:
            with pytest.raises(WeakKeyError, match="at least 1024 bits"):
                ours.verify(signed)
