"""Path validation rules beyond the oracle matrix: CA constraints, CRL corner cases, message
intermediates, the relaxed CRL mode, and the messages that name what is wrong."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from imagelist.errors import (
    CertificateExpiredError,
    CertificateRevokedError,
    ChainError,
    CrlError,
    KeyUsageError,
    UntrustedSignerError,
)
from imagelist.trust import CrlPolicy, TrustStore, subject_hash, validate_signer
from tests.pki import (
    Credential,
    IgtfDirectory,
    TestPki,
    cached_key,
    make_crl,
    make_endorser,
    make_intermediate_ca,
    make_root_ca,
    parse_oneline,
)

DAY = dt.timedelta(days=1)


def _window(pki: TestPki) -> dict[str, dt.datetime]:
    return {"not_before": pki.now - 30 * DAY, "not_after": pki.now + 365 * DAY}


def _crl(
    cred: Credential, pki: TestPki, revoked: tuple[int, ...] = ()
) -> x509.CertificateRevocationList:
    return make_crl(
        cred, revoked_serials=revoked, last_update=pki.now - DAY, next_update=pki.now + 7 * DAY
    )


def _raw_cert(
    subject: str,
    issuer: Credential,
    pki: TestPki,
    *,
    extensions: list[tuple[x509.ExtensionType, bool]],
    label: str,
) -> Credential:
    """A certificate with exactly the given extensions (for rules the builders cannot break)."""
    key = cached_key("rsa", label)
    builder = (
        x509.CertificateBuilder()
        .subject_name(parse_oneline(subject))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.now - 30 * DAY)
        .not_valid_after(pki.now + 365 * DAY)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    cert = builder.sign(issuer.key, hashes.SHA256())
    return Credential(
        cert=cert,
        key=key,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=b"",
        subject_oneline=subject,
        issuer_oneline=issuer.subject_oneline,
        subject_hash=subject_hash(cert.subject.public_bytes()),
    )


@pytest.fixture(scope="module")
def store(test_pki: TestPki) -> TrustStore:
    return TrustStore.load(test_pki.trust_dir)


def _dir_with(tmp_path: Path, pki: TestPki, *cas: Credential, policies: bool = False) -> TrustStore:
    igtf = IgtfDirectory(tmp_path / "trust")
    for ca in (pki.root, pki.intermediate, *cas):
        igtf.add_ca(ca, crl=_crl(ca, pki), signing_policy=policies, namespaces=policies)
    return TrustStore.load(igtf.path)


def test_good_path_is_signer_to_root(store: TrustStore, test_pki: TestPki) -> None:
    path = validate_signer(store, test_pki.good.cert)
    assert path == (test_pki.good.cert, test_pki.intermediate.cert, test_pki.root.cert)


def test_check_time_can_be_pinned(store: TrustStore, test_pki: TestPki) -> None:
    # The expired endorser was fine two months ago (CRLs too were current then? no: they start
    # a day ago, so pin to a time the CRLs cover and the certificate does not).
    with pytest.raises(CertificateExpiredError, match="expired at"):
        validate_signer(store, test_pki.expired.cert, at=test_pki.now)
    with pytest.raises(CrlError, match="not valid before"):
        validate_signer(store, test_pki.good.cert, at=test_pki.now - 10 * DAY)


def test_intermediate_carried_by_message(tmp_path: Path, test_pki: TestPki) -> None:
    igtf = IgtfDirectory(tmp_path / "rootonly")
    igtf.add_ca(test_pki.root, crl=_crl(test_pki.root, test_pki))
    store = TrustStore.load(igtf.path)
    # Required CRLs: the intermediate's CRL cannot be in the directory, so fail closed.
    with pytest.raises(CrlError, match="not in the trust directory"):
        validate_signer(store, test_pki.good.cert, untrusted=[test_pki.intermediate.cert])
    path = validate_signer(
        store,
        test_pki.good.cert,
        untrusted=[test_pki.intermediate.cert],
        crl_policy=CrlPolicy.IF_PRESENT,
    )
    assert path[-1] == test_pki.root.cert
    with pytest.raises(UntrustedSignerError):
        validate_signer(store, test_pki.good.cert, crl_policy=CrlPolicy.IF_PRESENT)


def test_self_signed_stranger(store: TrustStore, test_pki: TestPki) -> None:
    with pytest.raises(UntrustedSignerError, match="not in the trust directory"):
        validate_signer(store, test_pki.untrusted_root.cert)


def test_path_length_constraint(tmp_path: Path, test_pki: TestPki) -> None:
    # The intermediate has pathLen 0: a CA below it breaks the constraint.
    sub_ca = make_intermediate_ca(
        test_pki.intermediate, "/DC=org/DC=imagelist-test/CN=Sub CA", **_window(test_pki)
    )
    leaf = make_endorser(sub_ca, "/DC=org/DC=imagelist-test/CN=Deep", **_window(test_pki))
    store = _dir_with(tmp_path, test_pki, sub_ca)
    with pytest.raises(ChainError, match="may have 0 CAs below it"):
        validate_signer(store, leaf.cert)


def test_issuer_that_is_not_a_ca(tmp_path: Path, test_pki: TestPki) -> None:
    leaf = _raw_cert(
        "/DC=org/DC=imagelist-test/CN=Child of Endorser",
        test_pki.good,
        test_pki,
        extensions=[],
        label="child-of-endorser",
    )
    with pytest.raises(ChainError, match="CA:FALSE"):
        validate_signer(
            TrustStore.load(test_pki.trust_dir), leaf.cert, untrusted=[test_pki.good.cert]
        )


def test_ca_without_basic_constraints(tmp_path: Path, test_pki: TestPki) -> None:
    no_bc = _raw_cert(
        "/DC=org/DC=imagelist-test/CN=No BC CA",
        test_pki.root,
        test_pki,
        extensions=[],
        label="no-bc",
    )
    leaf = make_endorser(no_bc, "/DC=org/DC=imagelist-test/CN=Under No BC", **_window(test_pki))
    store = _dir_with(tmp_path, test_pki, no_bc)
    with pytest.raises(ChainError, match="no basicConstraints"):
        validate_signer(store, leaf.cert)


def test_ca_key_usage_without_cert_sign(tmp_path: Path, test_pki: TestPki) -> None:
    usage = x509.KeyUsage(True, False, False, False, False, False, True, False, False)
    weak = _raw_cert(
        "/DC=org/DC=imagelist-test/CN=No CertSign CA",
        test_pki.root,
        test_pki,
        extensions=[(x509.BasicConstraints(ca=True, path_length=None), True), (usage, True)],
        label="no-certsign",
    )
    leaf = make_endorser(weak, "/DC=org/DC=imagelist-test/CN=Under Weak", **_window(test_pki))
    store = _dir_with(tmp_path, test_pki, weak)
    with pytest.raises(KeyUsageError, match="keyCertSign"):
        validate_signer(store, leaf.cert)


def test_ca_extended_key_usage_must_allow_smime(tmp_path: Path, test_pki: TestPki) -> None:
    tls_only = _raw_cert(
        "/DC=org/DC=imagelist-test/CN=TLS Only CA",
        test_pki.root,
        test_pki,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
        label="tls-only-ca",
    )
    leaf = make_endorser(tls_only, "/DC=org/DC=imagelist-test/CN=Under TLS", **_window(test_pki))
    store = _dir_with(tmp_path, test_pki, tls_only)
    with pytest.raises(KeyUsageError, match="emailProtection"):
        validate_signer(store, leaf.cert)


def test_crl_signed_by_another_key(tmp_path: Path, test_pki: TestPki) -> None:
    igtf = IgtfDirectory(tmp_path / "forged")
    igtf.add_ca(test_pki.root, crl=_crl(test_pki.root, test_pki))
    forged = make_crl(
        test_pki.impostor,  # any other key; the CRL claims the intermediate's name below
        last_update=test_pki.now - DAY,
        next_update=test_pki.now + DAY,
    )
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(test_pki.intermediate.cert.subject)
        .last_update(test_pki.now - DAY)
        .next_update(test_pki.now + DAY)
    )
    assert forged is not None
    igtf.add_ca(test_pki.intermediate, crl=builder.sign(test_pki.impostor.key, hashes.SHA256()))
    with pytest.raises(CrlError, match="signature does not verify"):
        validate_signer(TrustStore.load(igtf.path), test_pki.good.cert)


def test_crl_issuer_without_crl_sign(tmp_path: Path, test_pki: TestPki) -> None:
    usage = x509.KeyUsage(False, False, False, False, False, True, False, False, False)
    no_crlsign = _raw_cert(
        "/DC=org/DC=imagelist-test/CN=No CRLSign CA",
        test_pki.root,
        test_pki,
        extensions=[(x509.BasicConstraints(ca=True, path_length=None), True), (usage, True)],
        label="no-crlsign",
    )
    leaf = make_endorser(
        no_crlsign, "/DC=org/DC=imagelist-test/CN=Under No CRLSign", **_window(test_pki)
    )
    store = _dir_with(tmp_path, test_pki, no_crlsign)
    with pytest.raises(CrlError, match="cRLSign"):
        validate_signer(store, leaf.cert)


def test_revoked_intermediate(tmp_path: Path, test_pki: TestPki) -> None:
    igtf = IgtfDirectory(tmp_path / "revoked-intermediate")
    igtf.add_ca(test_pki.root, crl=_crl(test_pki.root, test_pki, (test_pki.intermediate.serial,)))
    igtf.add_ca(test_pki.intermediate, crl=_crl(test_pki.intermediate, test_pki))
    with pytest.raises(CertificateRevokedError, match="Test Intermediate CA"):
        validate_signer(TrustStore.load(igtf.path), test_pki.good.cert)


def test_crl_policy_if_present(test_pki: TestPki) -> None:
    missing = TrustStore.load(test_pki.missing_crl_dir)
    assert validate_signer(missing, test_pki.good.cert, crl_policy=CrlPolicy.IF_PRESENT)
    stale = TrustStore.load(test_pki.stale_crl_dir)
    with pytest.raises(CrlError, match="expired"):
        validate_signer(stale, test_pki.good.cert, crl_policy=CrlPolicy.IF_PRESENT)


def test_crl_error_names_ca_and_file(test_pki: TestPki) -> None:
    with pytest.raises(CrlError) as info:
        validate_signer(TrustStore.load(test_pki.missing_crl_dir), test_pki.good.cert)
    message = str(info.value)
    assert test_pki.intermediate.subject_oneline in message
    assert f"{test_pki.intermediate.subject_hash}.r0" in message
    assert "\n" not in message


def test_too_long_path(tmp_path: Path, test_pki: TestPki) -> None:
    chain: list[Credential] = []
    parent = test_pki.root
    for depth in range(12):
        parent = _raw_cert(
            f"/DC=org/DC=imagelist-test/CN=Level {depth}",
            parent,
            test_pki,
            extensions=[(x509.BasicConstraints(ca=True, path_length=None), True)],
            label=f"level-{depth}",
        )
        chain.append(parent)
    store = _dir_with(tmp_path, test_pki)
    with pytest.raises(UntrustedSignerError, match="longer than"):
        validate_signer(
            store,
            chain[-1].cert,
            untrusted=[c.cert for c in chain],
            crl_policy=CrlPolicy.IF_PRESENT,
        )


def test_v1_root_accepted(test_pki: TestPki) -> None:
    store = TrustStore.load(test_pki.v1_root_dir)
    assert validate_signer(store, test_pki.v1_endorser.cert)[-1] == test_pki.v1_root.cert


def test_root_not_valid_yet(tmp_path: Path, test_pki: TestPki) -> None:
    future_root = make_root_ca(
        "/DC=org/DC=imagelist-future/CN=Future Root",
        not_before=test_pki.now + DAY,
        not_after=test_pki.now + 400 * DAY,
    )
    leaf = make_endorser(future_root, "/DC=org/DC=imagelist-future/CN=Early", **_window(test_pki))
    igtf = IgtfDirectory(tmp_path / "future")
    igtf.add_ca(future_root, crl=_crl(future_root, test_pki))
    with pytest.raises(CertificateExpiredError, match="Future Root is not valid before"):
        validate_signer(TrustStore.load(igtf.path), leaf.cert)


def test_malformed_extension_is_a_chain_error(store: TrustStore, test_pki: TestPki) -> None:
    """cryptography parses extensions lazily: a keyUsage that is not a BIT STRING surfaces as a
    ValueError inside the path check, which must become a ChainError naming the path."""
    broken = _raw_cert(
        "/DC=org/DC=imagelist-test/CN=Broken Key Usage",
        test_pki.intermediate,
        test_pki,
        extensions=[
            (x509.UnrecognizedExtension(x509.oid.ExtensionOID.KEY_USAGE, b"\x05\x00"), True)
        ],
        label="broken-ku",
    )
    with pytest.raises(ChainError, match="cannot be processed") as caught:
        validate_signer(store, broken.cert, crl_policy=CrlPolicy.IF_PRESENT)
    assert type(caught.value) is ChainError


def test_issuer_named_but_key_did_not_sign(store: TrustStore, test_pki: TestPki) -> None:
    """A certificate naming the intermediate as issuer, signed by a stranger with that name."""
    impostor = make_root_ca(
        test_pki.intermediate.subject_oneline,
        key=cached_key("rsa", "impostor"),
        **_window(test_pki),
    )
    forged = make_endorser(impostor, "/DC=org/DC=imagelist-test/CN=Forged", **_window(test_pki))
    with pytest.raises(UntrustedSignerError, match="but no such CA's key signed it"):
        validate_signer(store, forged.cert)


def test_signer_key_usage_without_digital_signature(store: TrustStore, test_pki: TestPki) -> None:
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    signer = make_endorser(
        test_pki.intermediate,
        "/DC=org/DC=imagelist-test/CN=Encipher Only",
        key_usage=usage,
        **_window(test_pki),
    )
    with pytest.raises(KeyUsageError, match="without digitalSignature or nonRepudiation"):
        validate_signer(store, signer.cert)
