"""The `imagelist` command: sign, verify, show; one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imagelist.cli.imagelist_tool import main
from imagelist.document import Endorser, Image, ImageList, format_date
from tests.pki import TestPki


def _list_json(pki: TestPki, *, expires_in: timedelta = timedelta(days=28)) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    image = Image(
        identifier="b1f4c0de-0000-4000-8000-000000000001",
        title="t",
        description="d",
        uri="https://example.org/i.img",
        size=1,
        sha512="a" * 128,
        arch="x86_64",
        os="Linux",
        osversion="1",
        comments="",
        hypervisor="kvm",
        version="1",
    )
    imagelist = ImageList(
        identifier="b1f4c0de-0000-4000-8000-0000000000ff",
        title="t",
        description="d",
        source="s",
        created=now - timedelta(hours=1),
        expires=now + expires_in,
        version="1",
        uri="https://example.org/image.list",
        endorsers=(
            Endorser(
                dn=pki.good.subject_oneline,
                ca=pki.good.issuer_oneline,
                email="e@example.org",
                creator="c",
            ),
        ),
        images=(image,),
    )
    return imagelist.to_json_bytes()


@pytest.fixture
def signed_file(tmp_path: Path, test_pki: TestPki) -> Path:
    source = tmp_path / "list.json"
    source.write_bytes(_list_json(test_pki))
    out = tmp_path / "image.list"
    rc = main(
        [
            "sign",
            str(source),
            "-o",
            str(out),
            "--cert",
            str(test_pki.cert_path("good")),
            "--key",
            str(test_pki.key_path("good")),
        ]
    )
    assert rc == 0
    return out


def test_sign_then_verify(
    signed_file: Path, test_pki: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "payload.json"
    rc = main(
        ["verify", str(signed_file), "-c", str(test_pki.trust_dir), "--payload", str(payload)]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("valid: b1f4c0de-0000-4000-8000-0000000000ff version 1, 1 images")
    assert json.loads(payload.read_bytes())["hv:imagelist"]["dc:title"] == "t"


def test_verify_uses_environment_trust_dir(
    signed_file: Path, test_pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMCATCHER_DIR_CERT", str(test_pki.trust_dir))
    assert main(["verify", str(signed_file)]) == 0


def test_verify_rejections_are_one_line(
    signed_file: Path, test_pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = signed_file.with_name("tampered.list")
    tampered.write_bytes(signed_file.read_bytes().replace(b'"t"', b'"T"', 1))
    assert main(["verify", str(tampered), "-c", str(test_pki.trust_dir)]) == 11
    err = capsys.readouterr().err
    assert err.startswith("imagelist: error: content digest does not match")
    assert err.count("\n") == 1
    assert main(["verify", str(signed_file), "-c", str(test_pki.missing_crl_dir)]) == 11
    assert (
        main(
            ["verify", str(signed_file), "-c", str(test_pki.missing_crl_dir), "--crl", "if-present"]
        )
        == 0
    )
    assert main(["verify", str(signed_file), "-c", str(Path("/nonexistent"))]) == 14


def test_verify_dates(signed_file: Path, test_pki: TestPki) -> None:
    args = ["verify", str(signed_file), "-c", str(test_pki.trust_dir)]
    # Three hours ago the list (created an hour ago) did not exist yet: 33.
    earlier = format_date(datetime.now(UTC) - timedelta(hours=3))
    assert main([*args, "--at", earlier]) == 33
    # Sixty days on, the CRLs are stale: the trust check fails first, closed (11).
    later = format_date(datetime.now(UTC) + timedelta(days=60))
    assert main([*args, "--crl", "if-present", "--at", later]) == 11


def test_expired_list_is_34(
    tmp_path: Path, test_pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "old.json"
    source.write_bytes(_list_json(test_pki, expires_in=timedelta(seconds=-1)))
    out = tmp_path / "old.list"
    key_args = ["--cert", str(test_pki.cert_path("good")), "--key", str(test_pki.key_path("good"))]
    assert main(["sign", str(source), "-o", str(out), *key_args]) == 0
    assert main(["verify", str(out), "-c", str(test_pki.trust_dir)]) == 34
    assert "expired at" in capsys.readouterr().err
    assert main(["verify", str(out), "-c", str(test_pki.trust_dir), "--ignore-dates"]) == 0


def test_sign_refuses_invalid_list(
    tmp_path: Path, test_pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.json"
    source.write_text('{"hv:imagelist": {}}')
    key_args = ["--cert", str(test_pki.cert_path("good")), "--key", str(test_pki.key_path("good"))]
    assert main(["sign", str(source), *key_args]) == 38
    assert "missing required key" in capsys.readouterr().err


def test_sign_errors(tmp_path: Path, test_pki: TestPki, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "l.json"
    source.write_bytes(_list_json(test_pki))
    source.chmod(0o600)  # also used as a (non-PEM) key: private keys must not be group-readable
    good_cert, good_key = str(test_pki.cert_path("good")), str(test_pki.key_path("good"))
    assert (
        main(["sign", str(tmp_path / "missing.json"), "--cert", good_cert, "--key", good_key]) == 1
    )
    # Certificate and key problems are exit 24, as in vmcaster.
    assert main(["sign", str(source), "--cert", str(tmp_path / "nocert"), "--key", good_key]) == 24
    assert main(["sign", str(source), "--cert", str(source), "--key", good_key]) == 24
    assert main(["sign", str(source), "--cert", good_cert, "--key", str(source)]) == 24
    assert main(["sign", str(source), "--cert", good_cert, "--key", str(tmp_path / "nokey")]) == 24
    other_key = str(test_pki.key_path("revoked"))
    assert main(["sign", str(source), "--cert", good_cert, "--key", other_key]) == 24
    err = capsys.readouterr().err
    assert "cannot read certificate" in err
    assert "is not an X.509 certificate" in err
    assert "is not a PEM private key" in err
    assert "Traceback" not in err


def test_encrypted_key_needs_passphrase_file(
    tmp_path: Path,
    test_pki: TestPki,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cryptography.hazmat.primitives import serialization

    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        test_pki.good.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    encrypted.chmod(0o600)
    source = tmp_path / "l.json"
    source.write_bytes(_list_json(test_pki))
    args = [
        "sign",
        str(source),
        "-o",
        str(tmp_path / "o"),
        "--cert",
        str(test_pki.cert_path("good")),
        "--key",
        str(encrypted),
    ]
    monkeypatch.delenv("VMCASTER_X509_KEY_PASSPHRASE_FILE", raising=False)
    assert main(args) == 24  # stdin is not a terminal under pytest: no prompt
    assert "is encrypted" in capsys.readouterr().err
    secret = tmp_path / "pass"
    secret.write_text("wrong\n")
    secret.chmod(0o600)
    monkeypatch.setenv("VMCASTER_X509_KEY_PASSPHRASE_FILE", str(secret))
    assert main(args) == 24
    assert "wrong passphrase" in capsys.readouterr().err
    secret.write_text("s3cret\n")
    assert main(args) == 0


def test_show_signed_and_unsigned(
    signed_file: Path, test_pki: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(signed_file)]) == 0
    shown = json.loads(capsys.readouterr().out)
    source = tmp_path / "plain.json"
    source.write_bytes(_list_json(test_pki))
    assert main(["show", str(source)]) == 0
    assert (
        json.loads(capsys.readouterr().out)["hv:imagelist"]["dc:identifier"]
        == shown["hv:imagelist"]["dc:identifier"]
    )


def test_stdin_and_stdout(signed_file: Path, test_pki: TestPki) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagelist.cli.imagelist_tool",
            "verify",
            "-",
            "-c",
            str(test_pki.trust_dir),
        ],
        input=signed_file.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"valid:")


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main([]) == 1
    assert capsys.readouterr().err == (
        "imagelist: error: the following arguments are required: COMMAND (see imagelist --help)\n"
    )
    assert main(["--log-config", str(tmp_path / "nolog.ini"), "show", str(tmp_path / "x")]) == 1
    assert "logging configuration file" in capsys.readouterr().err


def test_verbose_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.list"
    bad.write_bytes(b"Content-Type: text/plain\n\nhello\n")
    assert main(["-v", "show", str(bad)]) == 11
    assert "Traceback" in capsys.readouterr().err
