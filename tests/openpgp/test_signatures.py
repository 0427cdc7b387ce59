"""OpenPGP detached signatures (imagelist.openpgp): gpgv and sqv accept ours, we accept gpg's,
and every bad signature is refused with its own exit code (60-64)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelist.errors import (
    OpenPGPCertificateError,
    OpenPGPMaterialError,
    OpenPGPSignatureError,
    OpenPGPSignerUnknownError,
)
from imagelist.openpgp import SigningKey, read_certificates, sign_detached, verify_detached
from tests.openpgp.gpg import PAST, PAST_SIGN, Key, Keyring, gpgv, sqv

PAYLOAD = b'{\r\n  "hv:imagelist": {"dc:identifier": "x", "note": "caf\xc3\xa9"}\r\n}\r\n'


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "image.list.json"
    path.write_bytes(PAYLOAD)
    return path


def _ours(key: Key, data: Path) -> Path:
    signature = data.with_name(data.name + ".asc")
    signature.write_bytes(sign_detached(data.read_bytes(), SigningKey.from_file(key.secret)))
    return signature


@pytest.mark.parametrize("algo", ["ed25519", "rsa3072", "nistp256"])
def test_our_signature_is_accepted_by_gpgv_and_sqv(keyring: Keyring, data: Path, algo: str) -> None:
    key = keyring.generate(f"ours-{algo}", algo=algo)
    signature = _ours(key, data)
    assert signature.read_bytes().startswith(b"-----BEGIN PGP SIGNATURE-----")
    checked = gpgv(keyring, key.public, signature, data)
    assert checked.returncode == 0, checked.stderr
    assert "Good signature" in checked.stderr
    checked = sqv(key.public, signature, data)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == key.fingerprint
    # and the oracles refuse it over other bytes
    data.write_bytes(PAYLOAD + b" ")
    assert gpgv(keyring, key.public, signature, data).returncode != 0
    assert sqv(key.public, signature, data).returncode != 0


@pytest.mark.parametrize("armor", [True, False])
def test_gpg_detach_sign_is_verified_by_us(
    keyring: Keyring, good_key: Key, data: Path, armor: bool
) -> None:
    signature = keyring.sign(good_key, data, armor=armor)
    verified = verify_detached(
        PAYLOAD, signature.read_bytes(), read_certificates([good_key.public])
    )
    assert verified.fingerprint == good_key.fingerprint
    assert verified.signing_key == good_key.fingerprint


def test_a_signing_subkey_and_several_certificates(
    keyring: Keyring, other_key: Key, data: Path
) -> None:
    """Primary certification-only, a signing subkey; the right certificate among several."""
    key = keyring.generate("with-subkey", usage="cert")
    key = keyring.add_subkey(key, "sign", "never")
    certs = read_certificates([other_key.public, key.public])
    verified = verify_detached(PAYLOAD, keyring.sign(key, data).read_bytes(), certs)
    assert verified.fingerprint == key.fingerprint
    assert verified.signing_key != key.fingerprint  # the subkey signed
    ours = _ours(key, data)
    assert sqv(key.public, ours, data).returncode == 0
    assert gpgv(keyring, key.public, ours, data).returncode == 0


def test_tampered_bytes_are_refused(keyring: Keyring, good_key: Key, data: Path) -> None:
    signature = keyring.sign(good_key, data).read_bytes()
    certs = read_certificates([good_key.public])
    with pytest.raises(OpenPGPSignatureError) as caught:
        verify_detached(PAYLOAD.replace(b"caf", b"cof"), signature, certs)
    assert caught.value.exit_code == 60
    assert "does not verify over these bytes" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "backtrace" not in str(caught.value).lower()


def test_a_signature_over_other_bytes_is_refused(
    keyring: Keyring, good_key: Key, data: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    other.write_bytes(b'{"another": "document"}')
    signature = keyring.sign(good_key, other).read_bytes()
    with pytest.raises(OpenPGPSignatureError) as caught:
        verify_detached(PAYLOAD, signature, read_certificates([good_key.public]))
    assert caught.value.exit_code == 60


def test_a_text_mode_signature_is_refused(keyring: Keyring, good_key: Key, data: Path) -> None:
    target = data.with_name("text.asc")
    keyring.run(
        "--textmode", "--armor", "--local-user", good_key.fingerprint, "--detach-sign",
        "--output", str(target), str(data),
    )  # fmt: skip
    with pytest.raises(OpenPGPSignatureError, match="binary-document"):
        verify_detached(PAYLOAD, target.read_bytes(), read_certificates([good_key.public]))


def test_the_wrong_key_is_refused(
    keyring: Keyring, good_key: Key, other_key: Key, data: Path
) -> None:
    signature = keyring.sign(other_key, data).read_bytes()
    with pytest.raises(OpenPGPSignerUnknownError) as caught:
        verify_detached(PAYLOAD, signature, read_certificates([good_key.public]))
    assert caught.value.exit_code == 61
    assert other_key.fingerprint in str(caught.value)
    assert good_key.fingerprint in str(caught.value)


def test_an_expired_key_is_refused(fresh_keyring: Keyring, data: Path) -> None:
    """Made, used and expired in 2020: Sequoia alone accepts it (valid at signing time)."""
    key = fresh_keyring.generate("expired", expire="1d", faked=PAST)
    signature = fresh_keyring.sign(key, data, faked=PAST_SIGN).read_bytes()
    with pytest.raises(OpenPGPCertificateError, match="expired at 2020-01-02") as caught:
        verify_detached(PAYLOAD, signature, read_certificates([key.public]))
    assert caught.value.exit_code == 62
    # sqv judges the key at the signature's time and accepts: the check made now is ours (ADR 21)
    assert sqv(key.public, data.with_name(data.name + f".{key.email}.asc"), data).returncode == 0


def test_an_expired_signing_subkey_is_refused(fresh_keyring: Keyring, data: Path) -> None:
    key = fresh_keyring.generate("subkey-expired", usage="cert", faked=PAST)
    key = fresh_keyring.add_subkey(key, "sign", "1d", faked=PAST)
    signature = fresh_keyring.sign(key, data, faked=PAST_SIGN).read_bytes()
    with pytest.raises(OpenPGPCertificateError, match=r"subkey .* expired at 2020-01-02"):
        verify_detached(PAYLOAD, signature, read_certificates([key.public]))


def test_a_revoked_key_is_refused(fresh_keyring: Keyring, data: Path) -> None:
    key = fresh_keyring.generate("revoked")
    signature = fresh_keyring.sign(key, data).read_bytes()
    key = fresh_keyring.revoke(key)
    with pytest.raises(OpenPGPCertificateError, match="is revoked") as caught:
        verify_detached(PAYLOAD, signature, read_certificates([key.public]))
    assert caught.value.exit_code == 62


def test_a_key_without_the_signing_flag_is_refused(fresh_keyring: Keyring, data: Path) -> None:
    key = fresh_keyring.generate("no-signing")
    signature = fresh_keyring.sign(key, data).read_bytes()
    key = fresh_keyring.withdraw_signing(key)
    with pytest.raises(OpenPGPCertificateError, match="not signing-capable") as caught:
        verify_detached(PAYLOAD, signature, read_certificates([key.public]))
    assert caught.value.exit_code == 62


def test_we_do_not_sign_with_an_expired_key(fresh_keyring: Keyring) -> None:
    key = fresh_keyring.generate("old-signer", expire="1d", faked=PAST)
    with pytest.raises((OpenPGPCertificateError, OpenPGPMaterialError)) as caught:
        sign_detached(PAYLOAD, SigningKey.from_file(key.secret))
    assert caught.value.exit_code in (62, 64)
    assert "2020" in str(caught.value) or "no usable signing key" in str(caught.value)


def test_a_protected_key_needs_its_passphrase(fresh_keyring: Keyring, data: Path) -> None:
    key = fresh_keyring.generate("protected", passphrase="s3cret pass")
    with pytest.raises(OpenPGPMaterialError) as caught:
        SigningKey.from_file(key.secret)
    assert caught.value.exit_code == 64
    assert "s3cret" not in str(caught.value)
    with pytest.raises(OpenPGPMaterialError):
        SigningKey.from_file(key.secret, passphrase="wrong")
    signed = sign_detached(PAYLOAD, SigningKey.from_file(key.secret, passphrase="s3cret pass"))
    assert verify_detached(PAYLOAD, signed, read_certificates([key.public]))


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"not a signature",
        b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n",
    ],
)
def test_garbage_is_not_a_signature(good_key: Key, signature: bytes) -> None:
    with pytest.raises(OpenPGPSignatureError) as caught:
        verify_detached(PAYLOAD, signature, read_certificates([good_key.public]))
    assert caught.value.exit_code == 60
    assert "\n" not in str(caught.value)


def test_unusable_certificate_and_key_files(good_key: Key, tmp_path: Path) -> None:
    junk = tmp_path / "junk.asc"
    junk.write_bytes(b"hello")
    for path in (junk, tmp_path / "missing.asc", good_key.secret):
        with pytest.raises(OpenPGPMaterialError) as caught:
            read_certificates([path])
        assert caught.value.exit_code == 64
    with pytest.raises(OpenPGPMaterialError):
        SigningKey.from_file(good_key.public)
    with pytest.raises(OpenPGPMaterialError):
        verify_detached(PAYLOAD, b"", [])
