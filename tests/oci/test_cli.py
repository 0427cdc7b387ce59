"""``imagelist oci describe`` / ``verify`` against a real registry: each failure, its exit code.

56 reference, 57 refused, 58 unreachable, 59 manifest, 65 blob, 66 no signature, 67 wrong key,
68 too old; one line on stderr, no traceback, no secret.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from imagelist.cli import imagelist_tool
from imagelist.oci.cosign import sign_manifest
from imagelist.oci.reference import parse_reference
from tests.oci.registry import PASSWORD, TestRegistry, push_image
from tests.pki import TestPki

REPO = "egi_vm_images/ubuntu"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = imagelist_tool.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert PASSWORD not in err
    return lines[0]


def _key(tmp_path: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    private = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / f"{name}.pub"
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, path


def test_describe_prints_the_pinned_entry_by_tag(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk, ("24.04",))
    code, out, err = _run(
        capsys, "oci", "describe", "--plain-http", f"{registry.host}/{REPO}:24.04"
    )
    assert code == 0, err
    entry = json.loads(out)
    content = disk.read_bytes()
    assert entry["hv:uri"] == pushed.uri
    assert entry["hv:size"] == len(content)
    assert entry["sl:checksum:sha512"] == hashlib.sha512(content).hexdigest()
    assert entry["oci:layer-digest"] == pushed.layer.digest
    assert (entry["sl:arch"], entry["sl:osname"], entry["hv:format"]) == (
        "x86_64",
        "ubuntu",
        "QCOW2",
    )


def test_a_malformed_reference_is_56(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, "oci", "describe", "oci://Registry.example/UPPER:tag")
    assert code == 56
    assert "malformed OCI reference" in _one_line(err)


def test_401_without_credentials_is_57(
    capsys: pytest.CaptureFixture[str], tls_registry: TestRegistry, disk: Path
) -> None:
    push_image(tls_registry.client(), REPO, disk)
    code, _out, err = _run(
        capsys, "oci", "describe", "--ca-bundle", str(tls_registry.ca_path),
        f"{tls_registry.host}/{REPO}:24.04",
    )  # fmt: skip
    assert code == 57
    assert "asks for credentials (HTTP 401)" in _one_line(err)


def test_with_credentials_over_tls_it_works(
    capsys: pytest.CaptureFixture[str], tls_registry: TestRegistry, disk: Path
) -> None:
    pushed = push_image(tls_registry.client(), REPO, disk)
    code, out, err = _run(
        capsys, "oci", "describe", "--ca-bundle", str(tls_registry.ca_path),
        "--credentials", str(tls_registry.credentials_path), f"{tls_registry.host}/{REPO}:24.04",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["hv:uri"] == pushed.uri


def test_a_readable_credentials_file_is_57(
    capsys: pytest.CaptureFixture[str], tls_registry: TestRegistry
) -> None:
    tls_registry.credentials_path.chmod(0o644)
    code, _out, err = _run(
        capsys, "oci", "describe", "--ca-bundle", str(tls_registry.ca_path),
        "--credentials", str(tls_registry.credentials_path), f"{tls_registry.host}/{REPO}:24.04",
    )  # fmt: skip
    assert code == 57
    assert "are too open" in _one_line(err)


def test_a_registry_certificate_from_another_ca_is_58(
    capsys: pytest.CaptureFixture[str],
    tls_registry: TestRegistry,
    tmp_path: Path,
    test_pki: TestPki,
) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(test_pki.untrusted_root.cert.public_bytes(serialization.Encoding.PEM))
    code, _out, err = _run(
        capsys, "oci", "describe", "--ca-bundle", str(other), f"{tls_registry.host}/{REPO}:24.04",
    )  # fmt: skip
    assert code == 58
    assert "TLS verification failed" in _one_line(err)


def test_a_registry_that_is_down_is_58(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry
) -> None:
    registry.stop()
    code, _out, err = _run(capsys, "oci", "describe", "--plain-http", f"{registry.host}/{REPO}:1")
    assert code == 58
    assert f"{registry.host} is unreachable: connection refused" in _one_line(err)


def test_a_swapped_manifest_is_59(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    stored = registry.blob_path(pushed.digest)
    stored.write_bytes(stored.read_bytes().replace(b"Ubuntu 24.04 LTS", b"Ubuntu 24.04 XXX"))
    code, _out, err = _run(capsys, "oci", "describe", "--plain-http", pushed.uri)
    assert code == 59
    assert "served bytes hashing to" in _one_line(err)


def test_a_corrupted_blob_is_65(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path, tmp_path: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    blob = registry.blob_path(pushed.layer.digest)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    saved = tmp_path / "saved.qcow2"
    code, _out, err = _run(capsys, "oci", "describe", "--plain-http", "-o", str(saved), pushed.uri)
    assert code == 65
    assert f"blob {pushed.layer.digest} is corrupt" in _one_line(err)


def test_a_valid_cosign_signature_verifies(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path, tmp_path: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    private, public = _key(tmp_path, "cosign")
    sign_manifest(registry.client(), parse_reference(pushed.uri), private)
    code, out, err = _run(
        capsys, "oci", "verify", "--plain-http", "--key", str(public), "--max-age", "30",
        f"{registry.host}/{REPO}:24.04",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"{pushed.uri}\tsigned\t")


def test_a_missing_sig_is_66(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path, tmp_path: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    _private, public = _key(tmp_path, "cosign")
    code, _out, err = _run(
        capsys, "oci", "verify", "--plain-http", "--key", str(public), pushed.uri
    )
    assert code == 66
    assert "has no cosign signature" in _one_line(err)


def test_a_moved_tag_is_not_covered_by_the_old_signature(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path, tmp_path: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    private, public = _key(tmp_path, "cosign")
    sign_manifest(registry.client(), parse_reference(pushed.uri), private)
    other = tmp_path / "other.qcow2"
    other.write_bytes(b"evil" * 4096)
    push_image(registry.client(), REPO, other, ("24.04",))
    code, _out, err = _run(
        capsys,
        "oci",
        "verify",
        "--plain-http",
        "--key",
        str(public),
        f"{registry.host}/{REPO}:24.04",
    )
    assert code == 66
    _one_line(err)


def test_a_wrong_key_is_67(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path, tmp_path: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    private, _public = _key(tmp_path, "cosign")
    _other, wrong = _key(tmp_path, "wrong")
    sign_manifest(registry.client(), parse_reference(pushed.uri), private)
    code, _out, err = _run(capsys, "oci", "verify", "--plain-http", "--key", str(wrong), pushed.uri)
    assert code == 67
    assert "no cosign signature verifies with the pinned key" in _one_line(err)


def test_an_old_signature_is_68(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path, tmp_path: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    private, public = _key(tmp_path, "cosign")
    sign_manifest(
        registry.client(), parse_reference(pushed.uri), private,
        timestamp=int(time.time()) - 40 * 86400,
    )  # fmt: skip
    code, _out, err = _run(
        capsys, "oci", "verify", "--plain-http", "--key", str(public), "--max-age", "30", pushed.uri
    )
    assert code == 68
    assert "days old, more than the maximum of 30 days" in _one_line(err)


def test_a_corrupted_blob_leaves_no_saved_layer(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path, tmp_path: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    blob = registry.blob_path(pushed.layer.digest)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    saved = tmp_path / "out" / "saved.qcow2"
    saved.parent.mkdir()
    code, out, err = _run(capsys, "oci", "describe", "--plain-http", "-o", str(saved), pushed.uri)
    assert code == 65
    assert "is corrupt" in _one_line(err)
    assert out == ""
    assert list(saved.parent.iterdir()) == []  # neither the file nor a temporary one


def test_describe_saves_the_layer_it_describes(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, disk: Path, tmp_path: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    saved = tmp_path / "out" / "saved.qcow2"
    saved.parent.mkdir()
    code, out, err = _run(capsys, "oci", "describe", "--plain-http", "-o", str(saved), pushed.uri)
    assert code == 0, err
    assert saved.read_bytes() == disk.read_bytes()
    entry = json.loads(out)
    assert entry["sl:checksum:sha512"] == hashlib.sha512(disk.read_bytes()).hexdigest()
    assert [p.name for p in saved.parent.iterdir()] == ["saved.qcow2"]
