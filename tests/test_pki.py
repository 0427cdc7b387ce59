"""The test PKI is what it claims to be, with the openssl CLI as the oracle."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from tests.peers import REQUIRE_PEERS_ENV, require_peer
from tests.pki import (
    ENDORSER_PREFIX,
    INTERMEDIATE_DN,
    ROOT_DN,
    Credential,
    IgtfDirectory,
    TestPki,
    make_crl,
    make_endorser,
    make_root_ca,
    openssl_smime_sign,
    openssl_smime_verify,
    parse_oneline,
)

pytestmark = pytest.mark.peer

PAYLOAD = b'{\n  "hv:imagelist": {\n    "dc:identifier": "test"\n  }\n}\n'


def openssl_verify(
    openssl: str, capath: Path, cert: Path, *, untrusted: Path | None = None
) -> subprocess.CompletedProcess[str]:
    args = [openssl, "verify", "-no-CAfile", "-no-CAstore", "-CApath", str(capath)]
    args.append("-crl_check_all")
    if untrusted is not None:
        args += ["-untrusted", str(untrusted)]
    args.append(str(cert))
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def verify_endorser(
    openssl: str, pki: TestPki, name: str, capath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return openssl_verify(
        openssl,
        capath if capath is not None else pki.trust_dir,
        pki.cert_path(name),
        untrusted=pki.cert_path("intermediate"),
    )


def openssl_x509(openssl: str, cert: Path, *options: str) -> str:
    return subprocess.run(
        [openssl, "x509", "-noout", "-in", str(cert), *options],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


# ------------------------------------------------------------------------------------------
# Certificates and names


ALL_CREDENTIALS = [
    "root",
    "intermediate",
    "good",
    "revoked",
    "expired",
    "not_yet_valid",
    "wrong_key_usage",
    "wrong_eku",
    "outside_namespace",
    "direct",
    "impostor",
    "untrusted_root",
    "untrusted_endorser",
    "v1_root",
    "v1_endorser",
]


@pytest.mark.parametrize("name", ALL_CREDENTIALS)
def test_oneline_names_match_openssl(openssl: str, test_pki: TestPki, name: str) -> None:
    cred: Credential = getattr(test_pki, name)
    cert = test_pki.cert_path(name)
    subject = openssl_x509(openssl, cert, "-subject", "-nameopt", "compat")
    issuer = openssl_x509(openssl, cert, "-issuer", "-nameopt", "compat")
    assert subject == f"subject={cred.subject_oneline}"
    assert issuer == f"issuer={cred.issuer_oneline}"
    assert parse_oneline(cred.subject_oneline) == cred.cert.subject
    assert openssl_x509(openssl, cert, "-hash") == cred.subject_hash


def test_fixed_names(test_pki: TestPki) -> None:
    assert test_pki.root.subject_oneline == ROOT_DN
    assert test_pki.intermediate.subject_oneline == INTERMEDIATE_DN
    assert test_pki.intermediate.issuer_oneline == ROOT_DN
    assert test_pki.good.subject_oneline == ENDORSER_PREFIX + "Good Endorser"
    assert test_pki.good.issuer_oneline == INTERMEDIATE_DN
    assert test_pki.direct.issuer_oneline == ROOT_DN
    assert test_pki.outside_namespace.subject_oneline == "/DC=org/DC=evil/CN=Mallory"
    # the impostor claims the trusted intermediate as issuer but was signed by another key
    assert test_pki.impostor.issuer_oneline == INTERMEDIATE_DN


def test_credential_write_round_trips(test_pki: TestPki, tmp_path: Path) -> None:
    cert_path, key_path = test_pki.good.write(tmp_path)
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) == test_pki.good.cert
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert key_path.stat().st_mode & 0o777 == 0o600


def test_ca_extensions(test_pki: TestPki) -> None:
    for ca in (test_pki.root, test_pki.intermediate):
        ext = ca.cert.extensions
        bc = ext.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical
        assert bc.value.ca
        ku = ext.get_extension_for_class(x509.KeyUsage)
        assert ku.critical
        assert ku.value.key_cert_sign
        assert ku.value.crl_sign
        ext.get_extension_for_class(x509.SubjectKeyIdentifier)
        ext.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert test_pki.root.is_self_signed
    assert not test_pki.intermediate.is_self_signed


def test_endorser_default_extensions(test_pki: TestPki) -> None:
    ext = test_pki.good.cert.extensions
    assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert ku.value.content_commitment
    assert not ku.value.key_encipherment
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_wrong_usage_endorsers(test_pki: TestPki) -> None:
    ku = test_pki.wrong_key_usage.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_encipherment
    assert not ku.digital_signature
    assert not ku.content_commitment
    eku = test_pki.wrong_eku.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_validity_windows(test_pki: TestPki) -> None:
    now = test_pki.now
    for name in ALL_CREDENTIALS:
        cert = getattr(test_pki, name).cert
        valid_now = cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
        assert valid_now is (name not in {"expired", "not_yet_valid"}), name
    assert test_pki.expired.cert.not_valid_after_utc < now
    assert test_pki.not_yet_valid.cert.not_valid_before_utc > now


def test_v1_root_is_x509_v1_without_extensions(openssl: str, test_pki: TestPki) -> None:
    cert = test_pki.v1_root.cert
    assert cert.version is x509.Version.v1
    assert len(cert.extensions) == 0
    text = openssl_x509(openssl, test_pki.cert_path("v1_root"), "-text")
    assert re.search(r"Version: 1 \(0x0\)", text)
    # the endorser has no AKI since its issuer has no SKI to refer to
    ext_oids = {e.oid for e in test_pki.v1_endorser.cert.extensions}
    assert ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in ext_oids


def test_crls(test_pki: TestPki) -> None:
    crl = test_pki.intermediate_crl
    assert crl.issuer == test_pki.intermediate.cert.subject
    assert crl.get_revoked_certificate_by_serial_number(test_pki.revoked.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(test_pki.good.serial) is None
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = test_pki.intermediate.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ski.value.digest
    assert crl.is_signature_valid(test_pki.intermediate.cert.public_key())  # type: ignore[arg-type]
    assert test_pki.root_crl.is_signature_valid(test_pki.root.cert.public_key())  # type: ignore[arg-type]
    assert test_pki.v1_root_crl.is_signature_valid(test_pki.v1_root.cert.public_key())  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# IGTF directory layout


def test_trust_dir_layout(test_pki: TestPki) -> None:
    d = test_pki.trust_dir
    for ca, alias in ((test_pki.root, "TestRootCA"), (test_pki.intermediate, "TestIntermediateCA")):
        h = ca.subject_hash
        anchor = d / f"{h}.0"
        assert anchor.is_symlink()
        assert anchor.readlink() == Path(f"{alias}.pem")
        assert anchor.read_bytes() == ca.cert_pem
        for ext in ("signing_policy", "namespaces", "info", "crl_url"):
            link = d / f"{h}.{ext}"
            assert link.is_symlink(), link
            assert link.readlink() == Path(f"{alias}.{ext}")
        crl = d / f"{h}.r0"
        assert crl.is_file()
        assert not crl.is_symlink()
        assert crl.read_bytes().startswith(b"-----BEGIN X509 CRL-----")
        info = (d / f"{h}.info").read_text()
        assert f'subjectdn = "{ca.subject_oneline}"' in info
        assert f"alias = {alias}" in info


def test_policy_files(test_pki: TestPki) -> None:
    h = test_pki.intermediate.subject_hash
    policy = (test_pki.trust_dir / f"{h}.signing_policy").read_text()
    assert f"access_id_CA      X509         '{INTERMEDIATE_DN}'" in policy
    assert "pos_rights        globus        CA:sign" in policy
    assert "cond_subjects     globus       '\"/DC=org/DC=imagelist-test/*\"'" in policy
    namespaces = (test_pki.trust_dir / f"{h}.namespaces").read_text()
    assert f'TO Issuer "{INTERMEDIATE_DN}" \\\n  PERMIT Subject "/DC=org/DC=imagelist-test/.*"' in (
        namespaces
    )
    # the endorsers are inside the namespace, except outside_namespace
    regex = re.compile("/DC=org/DC=imagelist-test/.*")
    assert regex.match(test_pki.good.subject_oneline)
    assert not regex.match(test_pki.outside_namespace.subject_oneline)


def test_variant_dirs(test_pki: TestPki) -> None:
    ih = test_pki.intermediate.subject_hash
    rh = test_pki.root.subject_hash
    assert not (test_pki.missing_crl_dir / f"{ih}.r0").exists()
    assert (test_pki.missing_crl_dir / f"{rh}.r0").exists()
    assert not (test_pki.no_root_crl_dir / f"{rh}.r0").exists()
    assert (test_pki.no_root_crl_dir / f"{ih}.r0").exists()
    stale = x509.load_pem_x509_crl((test_pki.stale_crl_dir / f"{ih}.r0").read_bytes())
    assert stale.next_update_utc is not None
    assert stale.next_update_utc < test_pki.now
    der = x509.load_der_x509_crl((test_pki.der_crl_dir / f"{ih}.r0").read_bytes())
    assert der == test_pki.intermediate_crl
    assert (test_pki.v1_root_dir / f"{test_pki.v1_root.subject_hash}.0").exists()


def test_flat_layout_and_hash_collision(test_pki: TestPki, tmp_path: Path) -> None:
    d = IgtfDirectory(tmp_path / "flat", symlinks=False)
    first = d.add_ca(test_pki.root, crl=test_pki.root_crl)
    second = d.add_ca(test_pki.root, crl=test_pki.root_crl, signing_policy=False, namespaces="x\n")
    h = test_pki.root.subject_hash
    assert first.name == f"{h}.0"
    assert second.name == f"{h}.1"
    assert not first.is_symlink()
    assert (d.path / f"{h}.r1").exists()
    assert (d.path / f"{h}.namespaces").read_text() == "x\n"
    assert not list(d.path.glob("*.pem"))


# ------------------------------------------------------------------------------------------
# openssl verify: the chains behave as their names say


def test_good_verifies(openssl: str, test_pki: TestPki) -> None:
    proc = verify_endorser(openssl, test_pki, "good")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(": OK")


def test_direct_verifies(openssl: str, test_pki: TestPki) -> None:
    proc = verify_endorser(openssl, test_pki, "direct")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("revoked", "certificate revoked"),
        ("expired", "certificate has expired"),
        ("not_yet_valid", "certificate is not yet valid"),
        ("untrusted_endorser", "unable to get local issuer certificate"),
        ("impostor", "unable to get local issuer certificate"),
    ],
)
def test_bad_endorsers_fail(openssl: str, test_pki: TestPki, name: str, error: str) -> None:
    proc = verify_endorser(openssl, test_pki, name)
    assert proc.returncode != 0
    assert error in proc.stdout + proc.stderr


def test_stale_crl_fails(openssl: str, test_pki: TestPki) -> None:
    proc = verify_endorser(openssl, test_pki, "good", test_pki.stale_crl_dir)
    assert proc.returncode != 0
    assert "error 12 at 0 depth lookup: CRL has expired" in proc.stdout + proc.stderr


def test_missing_crl_fails(openssl: str, test_pki: TestPki) -> None:
    proc = verify_endorser(openssl, test_pki, "good", test_pki.missing_crl_dir)
    assert proc.returncode != 0
    assert "error 3 at 0 depth lookup: unable to get certificate CRL" in proc.stdout + proc.stderr


def test_missing_root_crl_fails(openssl: str, test_pki: TestPki) -> None:
    """-crl_check_all needs the root's CRL: here to check the intermediate (depth 1)."""
    proc = verify_endorser(openssl, test_pki, "good", test_pki.no_root_crl_dir)
    assert proc.returncode != 0
    assert "error 3 at 1 depth lookup: unable to get certificate CRL" in proc.stdout + proc.stderr
    proc = verify_endorser(openssl, test_pki, "direct", test_pki.no_root_crl_dir)
    assert "error 3 at 0 depth lookup: unable to get certificate CRL" in proc.stdout + proc.stderr


def test_root_itself_is_checked_against_its_own_crl(
    openssl: str, test_pki: TestPki, tmp_path: Path
) -> None:
    """-crl_check_all also checks the self-signed root (top depth) against the root's CRL."""
    now = test_pki.now
    self_revoking = make_crl(
        test_pki.root,
        revoked_serials=[test_pki.root.serial],
        last_update=now - dt.timedelta(days=1),
        next_update=now + dt.timedelta(days=1),
    )
    d = IgtfDirectory(tmp_path / "self-revoked")
    d.add_ca(test_pki.root, crl=self_revoking)
    d.add_ca(test_pki.intermediate, crl=test_pki.intermediate_crl)
    proc = verify_endorser(openssl, test_pki, "good", d.path)
    assert proc.returncode != 0
    assert "error 23 at 2 depth lookup: certificate revoked" in proc.stdout + proc.stderr


def test_der_crl_is_not_read_by_openssl_capath(openssl: str, test_pki: TestPki) -> None:
    """OpenSSL's -CApath lookup only loads PEM CRLs: a DER <hash>.r0 is a hard error."""
    proc = verify_endorser(openssl, test_pki, "good", test_pki.der_crl_dir)
    assert proc.returncode != 0
    assert "Expecting: X509 CRL" in proc.stderr


def test_v1_root_chain_verifies(openssl: str, test_pki: TestPki) -> None:
    proc = openssl_verify(openssl, test_pki.v1_root_dir, test_pki.cert_path("v1_endorser"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ec_endorser_verifies(openssl: str, test_pki: TestPki, tmp_path: Path) -> None:
    cred = make_endorser(
        test_pki.intermediate,
        ENDORSER_PREFIX + "EC Endorser",
        not_before=test_pki.now - dt.timedelta(days=1),
        not_after=test_pki.now + dt.timedelta(days=1),
        key_type="ec",
    )
    cert, _ = cred.write(tmp_path)
    proc = openssl_verify(
        openssl, test_pki.trust_dir, cert, untrusted=test_pki.cert_path("intermediate")
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ec_root(openssl: str, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    root = make_root_ca(
        "/DC=org/DC=imagelist-ec/CN=EC Root CA",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=1),
        key_type="ec",
        version1=True,
    )
    assert root.cert.version is x509.Version.v1
    d = IgtfDirectory(tmp_path / "ec")
    d.add_ca(root)
    cert, _ = root.write(tmp_path)
    proc = subprocess.run(
        [openssl, "verify", "-no-CAfile", "-no-CAstore", "-CApath", str(d.path), str(cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------
# openssl smime: the oracle helpers


@pytest.mark.parametrize(("md", "micalg"), [("sha256", "sha-256"), ("sha1", "sha1")])
def test_smime_good_round_trip(openssl: str, test_pki: TestPki, md: str, micalg: str) -> None:
    signed = openssl_smime_sign(openssl, test_pki.good, PAYLOAD, md=md)
    assert b'Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"' in signed
    assert f'micalg="{micalg}"'.encode() in signed
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr
    assert b"Verification successful" in proc.stderr
    assert proc.stdout == PAYLOAD.replace(b"\n", b"\r\n")


def test_smime_nodetach_and_extra_certs(openssl: str, test_pki: TestPki) -> None:
    signed = openssl_smime_sign(
        openssl, test_pki.good, PAYLOAD, nodetach=True, extra_certs=[test_pki.intermediate]
    )
    assert b"application/x-pkcs7-mime" in signed
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr


def test_smime_two_signers(openssl: str, test_pki: TestPki) -> None:
    signed = openssl_smime_sign(openssl, test_pki.good, PAYLOAD, second_signer=test_pki.direct)
    assert b"multipart/signed" in signed
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr
    bad = openssl_smime_sign(
        openssl, test_pki.good, PAYLOAD, second_signer=test_pki.untrusted_endorser
    )
    assert openssl_smime_verify(openssl, bad, test_pki.trust_dir).returncode != 0


@pytest.mark.parametrize(
    ("name", "capath", "error"),
    [
        ("revoked", "trust_dir", "certificate revoked"),
        ("expired", "trust_dir", "certificate has expired"),
        ("not_yet_valid", "trust_dir", "certificate is not yet valid"),
        ("wrong_key_usage", "trust_dir", "unsuitable certificate purpose"),
        ("wrong_eku", "trust_dir", "unsuitable certificate purpose"),
        ("untrusted_endorser", "trust_dir", "unable to get local issuer certificate"),
        ("impostor", "trust_dir", "unable to get local issuer certificate"),
        ("good", "stale_crl_dir", "CRL has expired"),
        ("good", "missing_crl_dir", "unable to get certificate CRL"),
        ("good", "no_root_crl_dir", "unable to get certificate CRL"),
        ("direct", "no_root_crl_dir", "unable to get certificate CRL"),
        ("good", "der_crl_dir", "Expecting: X509 CRL"),
    ],
)
def test_smime_rejections(
    openssl: str, test_pki: TestPki, name: str, capath: str, error: str
) -> None:
    signed = openssl_smime_sign(openssl, getattr(test_pki, name), PAYLOAD)
    proc = openssl_smime_verify(openssl, signed, getattr(test_pki, capath))
    assert proc.returncode == 4, proc.stderr
    assert b"Verification failure" in proc.stderr
    assert error.encode() in proc.stderr


@pytest.mark.parametrize(
    ("name", "capath"), [("direct", "trust_dir"), ("v1_endorser", "v1_root_dir")]
)
def test_smime_other_good_chains(openssl: str, test_pki: TestPki, name: str, capath: str) -> None:
    signed = openssl_smime_sign(openssl, getattr(test_pki, name), PAYLOAD)
    proc = openssl_smime_verify(openssl, signed, getattr(test_pki, capath))
    assert proc.returncode == 0, proc.stderr


def test_smime_oracle_ignores_namespaces(openssl: str, test_pki: TestPki) -> None:
    """OpenSSL knows nothing of signing_policy/namespaces: the verifier must add that check."""
    signed = openssl_smime_sign(openssl, test_pki.outside_namespace, PAYLOAD)
    proc = openssl_smime_verify(openssl, signed, test_pki.trust_dir)
    assert proc.returncode == 0, proc.stderr


def test_smime_revoked_passes_without_crl_check(openssl: str, test_pki: TestPki) -> None:
    signed = openssl_smime_sign(openssl, test_pki.revoked, PAYLOAD)
    proc = openssl_smime_verify(openssl, signed, test_pki.missing_crl_dir, crl_check_all=False)
    assert proc.returncode == 0, proc.stderr


def test_smime_attime(openssl: str, test_pki: TestPki) -> None:
    signed = openssl_smime_sign(openssl, test_pki.good, PAYLOAD)
    after_expiry = test_pki.good.cert.not_valid_after_utc + dt.timedelta(days=1)
    proc = openssl_smime_verify(
        openssl,
        signed,
        test_pki.trust_dir,
        crl_check_all=False,
        attime=int(after_expiry.timestamp()),
    )
    assert proc.returncode == 4
    assert b"certificate has expired" in proc.stderr


def test_smime_tampered_content_fails(openssl: str, test_pki: TestPki) -> None:
    signed = openssl_smime_sign(openssl, test_pki.good, PAYLOAD)
    tampered = signed.replace(b'"test"', b'"evil"', 1)
    assert tampered != signed
    proc = openssl_smime_verify(openssl, tampered, test_pki.trust_dir)
    assert proc.returncode == 4
    assert b"digest failure" in proc.stderr


# ------------------------------------------------------------------------------------------
# peers


def test_require_peer_skips_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_PEERS_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="peer 'sshd' unavailable: not on PATH"):
        require_peer("sshd", "not on PATH")


def test_require_peer_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_PEERS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="IMAGELIST_REQUIRE_PEERS=1"):
        require_peer("postgres", "initdb not found")
