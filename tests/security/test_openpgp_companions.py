"""Attack: forged, stale or missing OpenPGP companions under ``smime+openpgp`` (ADR 0021).

The site accepted version 1.0 signed both ways. The attacker (or a broken publisher) serves
version 2.0 with a valid S/MIME ``image.list`` but a bad ``image.list.json``/``.json.asc``;
each is refused with its own exit code and one line, and no row changes (SQLite, PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelist.companions import make_companions
from imagelist.openpgp import SigningKey
from tests.httpserver import HttpServer
from tests.openpgp.gpg import PAST, PAST_SIGN, Key, Keyring
from tests.openpgp.support import PgpWorld, build_pgp_world
from tests.pki import TestPki
from tests.subscriber.support import Site


@pytest.fixture
def both(site: Site, server: HttpServer, test_pki: TestPki, good_key: Key) -> PgpWorld:
    return build_pgp_world(site, server, test_pki.good, good_key)


def _gpg_signature(ring: Keyring, key: Key, data: bytes, tmp_path: Path, **kw: str) -> bytes:
    path = tmp_path / "payload.json"
    path.write_bytes(data)
    return ring.sign(key, path, **kw).read_bytes()  # type: ignore[arg-type]


def _register(world: PgpWorld, key: Key) -> None:
    result = world.site.endorser("--create", "-e", "endorser-1", "--openpgp-cert", str(key.public))
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    ("attack", "code", "text"),
    [
        ("tampered-json", 63, "is not the S/MIME-signed payload"),
        ("stale-json", 63, "is not the S/MIME-signed payload"),
        ("signature-over-other-bytes", 60, "does not verify over these bytes"),
        ("garbage-signature", 60, "not an OpenPGP signature"),
        ("missing-asc", 64, "cannot fetch"),
        ("missing-json", 64, "cannot fetch"),
        ("wrong-key", 61, "belongs to none of the endorser's certificates"),
    ],
)
def test_bad_companions_are_refused(
    both: PgpWorld, other_key: Key, keyring: Keyring, tmp_path: Path,
    attack: str, code: int, text: str,
) -> None:  # fmt: skip
    v2 = both.make_v2()
    json_bytes, _ = both.publish_both(v2)
    if attack == "tampered-json":
        both.put_json(json_bytes.replace(b"Test list", b"Evil list"))
    elif attack == "stale-json":  # version 1.0's companions beside version 2.0
        old = make_companions(
            both.make(version="1.0").to_json_bytes(),
            SigningKey.from_file(both.key.secret),  # type: ignore[union-attr]
        )
        both.put_json(old.json)
        both.put_asc(old.signature)
    elif attack == "signature-over-other-bytes":
        both.put_asc(_gpg_signature(keyring, both.key, b"{}", tmp_path))  # type: ignore[arg-type]
    elif attack == "garbage-signature":
        both.put_asc(b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n")
    elif attack == "missing-asc":
        both.server.remove(both.asc_path)
    elif attack == "missing-json":
        both.server.remove(both.json_path)
    elif attack == "wrong-key":
        both.put_asc(_gpg_signature(keyring, other_key, json_bytes, tmp_path))
    result = both.assert_refused(code)
    line = next(line for line in result.out.splitlines() if "\t" in line)
    assert text in line
    assert "Traceback" not in result.err


def test_an_expired_key_is_refused(both: PgpWorld, fresh_keyring: Keyring, tmp_path: Path) -> None:
    key = fresh_keyring.generate("expired-endorser", expire="1d", faked=PAST)
    _register(both, key)
    json_bytes, _ = both.publish_both(both.make_v2())
    both.put_asc(_gpg_signature(fresh_keyring, key, json_bytes, tmp_path, faked=PAST_SIGN))
    result = both.assert_refused(62)
    assert "expired at 2020-01-02" in result.out


def test_a_revoked_key_is_refused(both: PgpWorld, fresh_keyring: Keyring, tmp_path: Path) -> None:
    key = fresh_keyring.generate("revoked-endorser")
    json_bytes, _ = both.publish_both(both.make_v2())
    both.put_asc(_gpg_signature(fresh_keyring, key, json_bytes, tmp_path))
    _register(both, fresh_keyring.revoke(key))
    result = both.assert_refused(62)
    assert "is revoked" in result.out


def test_a_key_without_signing_flag_is_refused(
    both: PgpWorld,
    fresh_keyring: Keyring,
    tmp_path: Path,
) -> None:
    key = fresh_keyring.generate("certify-only-endorser")
    json_bytes, _ = both.publish_both(both.make_v2())
    both.put_asc(_gpg_signature(fresh_keyring, key, json_bytes, tmp_path))
    _register(both, fresh_keyring.withdraw_signing(key))
    result = both.assert_refused(62)
    assert "not signing-capable" in result.out


def test_another_endorsers_certificate_is_refused(
    both: PgpWorld,
    other_key: Key,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    """The .json signed by a certificate of another endorser linked to the subscription."""
    site = both.site
    assert (
        site.endorser("--create", "-e", "endorser-2", "--openpgp-cert", str(other_key.public)).code
        == 0
    )
    subscription = "6b9c2f4e-3a1d-4c8e-9f5b-2d7e1a0c4b38"
    assert site.endorser("--link", "-e", "endorser-2", "-s", subscription).code == 0
    json_bytes, _ = both.publish_both(both.make_v2())
    both.put_asc(_gpg_signature(keyring, other_key, json_bytes, tmp_path))
    result = both.assert_refused(61)
    assert "another endorser's certificate than the S/MIME signer's" in result.out


def test_an_older_copy_does_not_undo_a_revocation(
    both: PgpWorld, fresh_keyring: Keyring, tmp_path: Path
) -> None:
    """Registering a certificate again takes in what is new (a revocation, a new expiry); an
    older copy of it (a stale key server, an old file) must not drop the revocation stored."""
    key = fresh_keyring.generate("revoked-then-stale")
    stale = tmp_path / "stale.asc"
    stale.write_bytes(key.public.read_bytes())  # before the revocation
    json_bytes, _ = both.publish_both(both.make_v2())
    both.put_asc(_gpg_signature(fresh_keyring, key, json_bytes, tmp_path))
    _register(both, fresh_keyring.revoke(key))
    again = both.site.endorser("--create", "-e", "endorser-1", "--openpgp-cert", str(stale))
    assert again.code == 0, again.err
    result = both.assert_refused(62)
    assert "is revoked" in result.out
