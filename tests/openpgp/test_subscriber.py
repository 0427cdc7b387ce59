"""The subscriber with OpenPGP (ADR 0021): endorser certificates, signature policies, -U."""

from __future__ import annotations

import json

import pytest

from tests.httpserver import HttpServer
from tests.openpgp.gpg import Key
from tests.openpgp.support import PgpWorld, build_pgp_world
from tests.pki import TestPki
from tests.subscriber.support import Site, build_world


@pytest.fixture
def both(site: Site, server: HttpServer, test_pki: TestPki, good_key: Key) -> PgpWorld:
    return build_pgp_world(site, server, test_pki.good, good_key)


def test_both_signatures_accept_a_new_version(both: PgpWorld) -> None:
    both.publish_both(both.make_v2())
    result = both.update()
    assert result.code == 0, (result.out, result.err)
    assert "1.0 -> 2.0" in result.out
    paths = [r.path for r in both.server.requests]
    assert paths.count(both.asc_path) >= 2  # at subscribe and at each -U with a new list


def test_openpgp_only_endorser_outside_the_igtf(
    sqlite_site: Site,
    server: HttpServer,
    test_pki: TestPki,
    good_key: Key,
) -> None:
    world = build_pgp_world(sqlite_site, server, test_pki.good, good_key, policy="openpgp")
    assert all(r.path != world.path for r in server.requests), "image.list is never fetched"
    rows = sqlite_site.query('select data from "imageListInstance"')
    assert bytes(rows[-1][0]).startswith(b"{")  # the .json is what was accepted
    shown = sqlite_site.subscribe("-i", "-f", "message")
    assert shown.code == 0, shown.err
    assert shown.out.startswith("{")
    assert sqlite_site.image("-i", "-u", "img-a", "-f", "message").out.startswith("{")
    world.publish_both(world.make_v2(), smime=False)
    result = world.update()
    assert result.code == 0, (result.out, result.err)
    assert world.update().code == 0  # unchanged: conditional GET of the .json
    json_bytes, _ = world.publish_both(world.make(version="3.0"), smime=False)
    world.put_json(json_bytes.replace(b"Test list", b"Evil list"))
    result = world.assert_refused(60)
    assert "does not verify over these bytes" in result.out


def test_default_policy_is_unaffected(
    sqlite_site: Site,
    server: HttpServer,
    test_pki: TestPki,
) -> None:
    """A subscription made as before never asks for the companions, even when they exist."""
    world = build_world(sqlite_site, server, test_pki.good)
    server.put(world.path + ".json.asc", b"garbage")
    world.publish(world.make(version="2.0"))
    assert world.update().code == 0
    assert all(not r.path.endswith((".json", ".json.asc")) for r in server.requests)
    out = sqlite_site.subscribe("-l", "-f", "json").out
    assert json.loads(out)


def test_endorser_certificates_are_stored_and_shown(
    sqlite_site: Site,
    good_key: Key,
    other_key: Key,
) -> None:
    result = sqlite_site.endorser(
        "--create", "-e", "pgp-only", "--openpgp-cert", str(good_key.public),
        "--openpgp-cert", str(other_key.public),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert good_key.fingerprint in result.err
    rows = sqlite_site.query('select fingerprint from "endorserOpenpgpCert" order by id')
    assert rows == [(good_key.fingerprint,), (other_key.fingerprint,)]
    # registering again refreshes, another endorser cannot take it
    assert (
        sqlite_site.endorser(
            "--create", "-e", "pgp-only", "--openpgp-cert", str(good_key.public)
        ).code
        == 0
    )
    before = sqlite_site.snapshot()
    taken = sqlite_site.endorser("--create", "-e", "thief", "--openpgp-cert", str(good_key.public))
    assert taken.code == 12
    assert "already registered to endorser 'pgp-only'" in taken.err
    assert sqlite_site.snapshot() == before
    assert sqlite_site.endorser("-l", "--openpgp-cert", str(good_key.public)).code == 1
    info = sqlite_site.endorser("-i", "-e", "pgp-only")
    assert f"endorser.openpgp:fingerprint={good_key.fingerprint}" in info.out
    shown = json.loads(sqlite_site.endorser("-i", "-e", "pgp-only", "-f", "json").out)
    assert shown["openpgp"] == [good_key.fingerprint, other_key.fingerprint]


def test_unusable_certificate_file_changes_nothing(
    sqlite_site: Site,
    good_key: Key,
    tmp_path: pytest.TempPathFactory,
) -> None:
    before = sqlite_site.snapshot()
    result = sqlite_site.endorser(
        "--create", "-e", "x", "--openpgp-cert", str(good_key.secret),
    )  # fmt: skip
    assert result.code == 64
    assert "secret key material" in result.err
    assert sqlite_site.snapshot() == before


def test_signature_policy_can_be_changed(both: PgpWorld) -> None:
    site = both.site
    assert "subscription.signature_policy=smime+openpgp" in site.subscribe("-i").out
    assert (
        site.subscribe(
            "-u", "6b9c2f4e-3a1d-4c8e-9f5b-2d7e1a0c4b38", "--signature-policy", "smime"
        ).code
        == 0
    )
    both.server.remove(both.asc_path)
    both.publish(both.make_v2())
    assert both.update().code == 0  # smime: the missing .asc does not matter
    assert (
        site.subscribe(
            "-u", "6b9c2f4e-3a1d-4c8e-9f5b-2d7e1a0c4b38", "--signature-policy", "smime+openpgp"
        ).code
        == 0
    )
    both.publish(both.make(version="3.0"))
    result = both.assert_refused(64)
    assert "image.list.json" in result.out
    assert site.subscribe("-u", "nope", "--signature-policy", "smime").code == 1
    assert json.loads(site.subscribe("-i", "-f", "json").out)
