"""``imagelist sign --openpgp-key`` and ``imagelist verify --openpgp-cert``: the companions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagelist.cli.imagelist_tool import main
from imagelist.smime import read_signed
from tests.cli.test_imagelist_tool import _list_json
from tests.openpgp.gpg import Key, Keyring, gpgv, sqv
from tests.pki import TestPki


@pytest.fixture
def published(tmp_path: Path, test_pki: TestPki, good_key: Key) -> Path:
    source = tmp_path / "list.json"
    source.write_bytes(_list_json(test_pki))
    out = tmp_path / "image.list"
    rc = main(
        [
            "sign", str(source), "-o", str(out),
            "--cert", str(test_pki.cert_path("good")), "--key", str(test_pki.key_path("good")),
            "--openpgp-key", str(good_key.secret),
        ]
    )  # fmt: skip
    assert rc == 0
    return out


def _verify(path: Path, test_pki: TestPki, *args: str) -> int:
    return main(["verify", str(path), "-c", str(test_pki.trust_dir), *args])


def test_sign_writes_the_two_companions(published: Path, keyring: Keyring, good_key: Key) -> None:
    json_file = published.with_name("image.list.json")
    asc = published.with_name("image.list.json.asc")
    assert json_file.read_bytes() == read_signed(published.read_bytes()).payload
    assert asc.read_bytes().startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert gpgv(keyring, good_key.public, asc, json_file).returncode == 0
    assert sqv(good_key.public, asc, json_file).returncode == 0


def test_verify_both_signatures(
    published: Path, test_pki: TestPki, good_key: Key, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _verify(published, test_pki, "--openpgp-cert", str(good_key.public)) == 0
    out = capsys.readouterr().out
    assert f"and OpenPGP {good_key.fingerprint}" in out
    assert _verify(published, test_pki, "--openpgp-cert", str(good_key.public), "-f", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["openpgp"]["fingerprint"] == good_key.fingerprint
    assert document["signer"]["subject"] == test_pki.good.subject_oneline


def test_gpg_signed_companion_is_verified(
    published: Path, test_pki: TestPki, keyring: Keyring, other_key: Key
) -> None:
    json_file = published.with_name("image.list.json")
    made = keyring.sign(other_key, json_file)
    made.replace(published.with_name("image.list.json.asc"))
    assert _verify(published, test_pki, "--openpgp-cert", str(other_key.public)) == 0


@pytest.mark.parametrize(
    ("attack", "code", "text"),
    [
        ("tamper-json", 63, "is not the S/MIME-signed payload"),
        ("tamper-both", 11, "content digest does not match"),
        ("no-asc", 64, "cannot read"),
        ("no-json", 64, "cannot read"),
        ("wrong-cert", 61, "belongs to none of the endorser's certificates"),
        ("asc-over-other", 60, "does not verify over these bytes"),
    ],
)
def test_verify_refusals(
    published: Path,
    test_pki: TestPki,
    good_key: Key,
    other_key: Key,
    keyring: Keyring,
    capsys: pytest.CaptureFixture[str],
    attack: str,
    code: int,
    text: str,
) -> None:
    json_file = published.with_name("image.list.json")
    asc = published.with_name("image.list.json.asc")
    cert = good_key.public
    if attack == "tamper-json":
        json_file.write_bytes(json_file.read_bytes().replace(b'"t"', b'"T"', 1))
    elif attack == "tamper-both":
        published.write_bytes(published.read_bytes().replace(b'"t"', b'"T"', 1))
    elif attack == "no-asc":
        asc.unlink()
    elif attack == "no-json":
        json_file.unlink()
    elif attack == "wrong-cert":
        cert = other_key.public
    elif attack == "asc-over-other":
        other = published.with_name("other.json")
        other.write_bytes(b"{}")
        keyring.sign(good_key, other).replace(asc)
    assert _verify(published, test_pki, "--openpgp-cert", str(cert)) == code
    err = capsys.readouterr().err
    assert text in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_openpgp_only_needs_no_trust_directory(
    tmp_path: Path, test_pki: TestPki, good_key: Key, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "list.json"
    source.write_bytes(_list_json(test_pki))
    out = tmp_path / "image.list"
    assert main(["sign", str(source), "-o", str(out), "--openpgp-key", str(good_key.secret)]) == 0
    assert not out.exists()
    json_file = tmp_path / "image.list.json"
    cert = str(good_key.public)
    for target in (out, json_file):
        rc = main(
            ["verify", str(target), "--signature-policy", "openpgp", "--openpgp-cert", cert,
             "-c", str(tmp_path / "no-such-dir")]
        )  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        assert f"signed by OpenPGP {good_key.fingerprint}" in capsys.readouterr().out
    rc = main(
        ["verify", str(json_file), "--signature-policy", "openpgp", "--openpgp-cert", cert,
         "-f", "json"]
    )  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert document["signer"] is None
    assert document["openpgp"]["fingerprint"] == good_key.fingerprint


def test_option_errors(
    tmp_path: Path, test_pki: TestPki, good_key: Key, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "list.json"
    source.write_bytes(_list_json(test_pki))
    assert main(["sign", str(source)]) == 1
    assert "--cert and --key are required" in capsys.readouterr().err
    assert main(["sign", str(source), "--openpgp-key", str(good_key.secret)]) == 1
    assert "name -o OUTPUT" in capsys.readouterr().err
    assert main(["verify", str(source), "--signature-policy", "smime+openpgp"]) == 1
    assert "needs --openpgp-cert" in capsys.readouterr().err
    bad = tmp_path / "bad.asc"
    bad.write_bytes(b"junk")
    bad.chmod(0o600)
    assert main(["sign", str(source), "-o", str(tmp_path / "x"), "--openpgp-key", str(bad)]) == 64
    assert "not an OpenPGP secret key" in capsys.readouterr().err
