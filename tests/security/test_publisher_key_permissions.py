"""Attack surface: a signing key or passphrase file that others can read is used anyway (17.5).

OpenSSH refuses a private key that group or others can access; vmcaster signed with a
world-readable ``userkey.pem`` and read a world-readable passphrase file without a word. Now
both are refused (exit 24, one line naming the file and ``chmod 600``) before anything is
signed or uploaded, unless ``--allow-open-key-permissions`` (then a warning).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.security.publisher_support import (
    LIST,
    Publisher,
    publisher,  # noqa: F401
)


def _key_copy(publisher: Publisher, mode: int, passphrase: bytes | None = None) -> Path:  # noqa: F811
    key = publisher.base / "userkey.pem"
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    key.write_bytes(
        publisher.pki.good.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    key.chmod(mode)
    publisher.env["VMCASTER_X509_KEY"] = str(key)
    return key


def _refused(publisher: Publisher, **env: str) -> str:  # noqa: F811
    before = publisher.state()
    result = publisher.run("--select-imagelist", LIST, "--upload-imagelist", **env)
    assert result.rc == 24, result.err
    assert len(result.err_lines) == 1, result.err
    assert publisher.state() == before, "nothing signed, uploaded or recorded"
    return result.err_lines[0]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_open_key_is_refused(publisher: Publisher, mode: int) -> None:  # noqa: F811
    key = _key_copy(publisher, mode)
    line = _refused(publisher)
    assert line.startswith(f"vmcaster: error: permissions {mode:04o} of private key {key} ")
    assert f"chmod 600 {key}" in line


def test_open_passphrase_file_is_refused(publisher: Publisher) -> None:  # noqa: F811
    _key_copy(publisher, 0o600, b"right horse")
    passphrase = publisher.base / "passphrase"
    passphrase.write_text("right horse\n")
    passphrase.chmod(0o644)
    line = _refused(publisher, VMCASTER_X509_KEY_PASSPHRASE_FILE=str(passphrase))
    assert f"of VMCASTER_X509_KEY_PASSPHRASE_FILE {passphrase} are too open" in line


def test_passphrase_file_that_is_not_a_file_is_refused(publisher: Publisher) -> None:  # noqa: F811
    _key_copy(publisher, 0o600, b"right horse")
    line = _refused(publisher, VMCASTER_X509_KEY_PASSPHRASE_FILE="/dev/zero")
    assert line == (
        "vmcaster: error: cannot read VMCASTER_X509_KEY_PASSPHRASE_FILE /dev/zero: "
        "not a regular file"
    )


def test_private_key_and_the_override(publisher: Publisher) -> None:  # noqa: F811
    _key_copy(publisher, 0o400)
    result = publisher.run("--select-imagelist", LIST, "--upload-imagelist")
    assert result.rc == 0, result.err
    _key_copy(publisher, 0o644)
    result = publisher.run(
        "--select-imagelist", LIST, "--upload-imagelist", "--allow-open-key-permissions"
    )
    assert result.rc == 0, result.err
    assert "are too open" in result.err
    assert "used anyway" in result.err
