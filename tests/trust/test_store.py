"""Loading an IGTF trust directory: what is read, what is skipped, what is an error."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from imagelist.errors import NoTrustAnchorsError, TrustStoreError
from imagelist.trust import DEFAULT_TRUST_DIR, TrustStore, default_trust_dir, subject_hash
from tests.pki import TestPki


def test_default_dir_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_trust_dir({}) == DEFAULT_TRUST_DIR
    assert default_trust_dir({"X509_CERT_DIR": "/x"}) == "/x"
    assert default_trust_dir({"X509_CERT_DIR": "/x", "VMCATCHER_DIR_CERT": "/v"}) == "/v"
    # Through os.environ, without leaking into the tests that run after this one.
    monkeypatch.setenv("VMCATCHER_DIR_CERT", "")
    monkeypatch.setenv("X509_CERT_DIR", "/x")
    assert default_trust_dir(os.environ) == "/x"
    monkeypatch.setenv("VMCATCHER_DIR_CERT", "/v")
    assert default_trust_dir(os.environ) == "/v"


def test_loads_cas_crls_and_policies_once(test_pki: TestPki) -> None:
    store = TrustStore.load(test_pki.trust_dir)
    # <alias>.pem and its <hash>.0 symlink are one CA, read once.
    subjects = sorted(ca.subject for ca in store.cas)
    assert subjects == sorted(
        [test_pki.root.subject_oneline, test_pki.intermediate.subject_oneline]
    )
    assert len(store) == 2
    intermediate = store.find(test_pki.intermediate.cert)
    assert intermediate is not None
    assert intermediate.hash == test_pki.intermediate.subject_hash
    assert len(intermediate.crls) == 1
    assert {p.source.rsplit(".", 1)[-1] for p in intermediate.policies} == {
        "namespaces",
        "signing_policy",
    }
    assert store.find(test_pki.good.cert) is None
    assert [ca.certificate for ca in store.issuers_of(test_pki.good.cert)] == [
        test_pki.intermediate.cert
    ]


def test_subject_hash_matches_openssl(test_pki: TestPki) -> None:
    for cred in (test_pki.root, test_pki.intermediate, test_pki.good, test_pki.v1_root):
        assert subject_hash(cred.cert.subject.public_bytes()) == cred.subject_hash


def test_missing_directory_is_exit_14(tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError, match="cannot read trust directory") as info:
        TrustStore.load(tmp_path / "nope")
    assert info.value.exit_code == 14


def test_directory_without_ca_is_exit_12(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("nothing here")
    with pytest.raises(NoTrustAnchorsError, match="no CA certificate") as info:
        TrustStore.load(tmp_path)
    assert info.value.exit_code == 12


def test_broken_files_are_skipped_with_a_warning(
    tmp_path: Path, test_pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    trust = tmp_path / "trust"
    shutil.copytree(test_pki.trust_dir, trust, symlinks=True)
    (trust / "deadbeef.0").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
    )
    (trust / "deadbeef.r0").write_bytes(b"garbage")
    (trust / "deadbeef.namespaces").write_text('TO Issuer "/x" ALLOW Subject ".*"\n')
    (trust / "subdir.0").mkdir()
    with caplog.at_level(logging.WARNING, logger="imagelist.trust.store"):
        store = TrustStore.load(trust)
    assert len(store) == 2
    skipped = " ".join(record.getMessage() for record in caplog.records)
    for name in ("deadbeef.0", "deadbeef.r0", "deadbeef.namespaces"):
        assert name in skipped


def test_der_certificate_and_crl_without_ca(tmp_path: Path, test_pki: TestPki) -> None:
    der = test_pki.root.cert.public_bytes(serialization.Encoding.DER)
    (tmp_path / f"{test_pki.root.subject_hash}.0").write_bytes(der)
    orphan = test_pki.intermediate_crl.public_bytes(serialization.Encoding.PEM)
    (tmp_path / f"{test_pki.intermediate.subject_hash}.r0").write_bytes(orphan)
    store = TrustStore.load(tmp_path)
    assert [ca.certificate for ca in store.cas] == [test_pki.root.cert]
    assert store.cas[0].crls == []


def test_bundle_file_with_several_certificates(tmp_path: Path, test_pki: TestPki) -> None:
    (tmp_path / "bundle.pem").write_bytes(test_pki.root.cert_pem + test_pki.intermediate.cert_pem)
    assert len(TrustStore.load(tmp_path)) == 2
