"""Signed publication of per-appliance and VO-wide lists (ADR 0020), on SQLite and PostgreSQL.

The lists are checked with the project's own verifier (what vmcatcher_subscribe runs) and with
``openssl smime -verify -crl_check_all`` as the oracle; every image must carry every key
vmcatcher 0.6 and atrope require.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from imagelist.db.market import open_database
from imagelist.db.market.models import (
    Appliance,
    ApplianceVersion,
    Image,
    PublishedDocument,
    Vo,
    VoList,
)
from imagelist.document import REQUIRED_IMAGE_KEYS, parse_date
from imagelist.errors import MarketPublishError, MarketSettingsError
from imagelist.market.listbuild import ATROPE_IMAGE_KEYS, next_hv_version, vo_image_id
from imagelist.market.publication import publish_appliance, publish_vo_list, write_document
from imagelist.market.settings import MarketSettings
from imagelist.market.signing import register_detached_signer, unregister_detached_signer
from imagelist.smime import read_signed
from imagelist.trust import TrustStore
from imagelist.verify import ListVerifier, check_dates
from tests.market.pubsupport import (
    SERVICE_DN,
    Seeded,
    add_version,
    market_settings,
    seed,
    service_credential,
)
from tests.pki import TestPki, openssl_smime_verify


@pytest.fixture
def settings(tmp_path: Path, test_pki: TestPki, database_url: str) -> MarketSettings:
    return market_settings(tmp_path, service_credential(test_pki), database_url=database_url)


@pytest.fixture
def sessions(settings: MarketSettings) -> Iterator[sessionmaker[Session]]:
    engine = open_database(settings.database_url)
    yield sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> Seeded:
    with sessions() as session, session.begin():
        return seed(session)


def _files(settings: MarketSettings, *parts: str) -> tuple[bytes, bytes]:
    directory = settings.store_dir.joinpath(*parts)
    return (directory / "image.list").read_bytes(), (directory / "image.list.json").read_bytes()


def _verified(test_pki: TestPki, signed: bytes) -> Any:
    verifier = ListVerifier(TrustStore.load(test_pki.trust_dir))
    result = verifier.verify(signed)
    check_dates(result.imagelist)
    return result


def _publish_va(sessions: sessionmaker[Session], seeded: Seeded, settings: Any) -> str:
    with sessions() as session, session.begin():
        document = publish_appliance(
            session, session.get_one(Appliance, seeded.appliance_id), settings
        )
        return document.hv_version


def _publish_vo(sessions: sessionmaker[Session], seeded: Seeded, settings: Any) -> str:
    with sessions() as session, session.begin():
        document = publish_vo_list(session, session.get_one(Vo, seeded.vo_id), settings)
        return document.hv_version


def test_appliance_list_signed_complete_and_served_bytes_equal_payload(
    settings: MarketSettings,
    sessions: sessionmaker[Session],
    seeded: Seeded,
    test_pki: TestPki,
    openssl: str,
) -> None:
    version = _publish_va(sessions, seeded, settings)
    signed, payload = _files(settings, "vappliance", "alma9")
    assert read_signed(signed).payload == payload  # image.list.json is the signed bytes
    checked = _verified(test_pki, signed)
    assert checked.signer_dn == SERVICE_DN
    oracle = openssl_smime_verify(openssl, signed, test_pki.trust_dir, crl_check_all=True)
    assert oracle.returncode == 0, oracle.stderr
    assert oracle.stdout == payload
    body = json.loads(payload)["hv:imagelist"]
    with sessions() as session:
        appliance = session.get_one(Appliance, seeded.appliance_id)
        expires = session.get_one(ApplianceVersion, seeded.version_id).expires_at
        assert body["dc:identifier"] == appliance.uuid
        row = session.scalars(sa.select(PublishedDocument)).one()
    assert body["hv:uri"] == "https://market.test/store/vappliance/alma9/image.list"
    assert body["hv:version"] == version == row.hv_version
    assert body["hv:endorser"]["hv:x509"]["hv:dn"] == SERVICE_DN
    assert body["hv:endorser"]["hv:x509"]["hv:ca"] == test_pki.intermediate.subject_oneline
    assert row.json == payload
    assert row.smime == signed
    assert row.pgp_sig is None
    assert row.sha256 == hashlib.sha256(signed).hexdigest()
    images = [entry["hv:image"] for entry in body["hv:images"]]
    assert sorted(image["dc:identifier"] for image in images) == sorted(seeded.image_uuids)
    for image in images:
        missing = {*REQUIRED_IMAGE_KEYS, *ATROPE_IMAGE_KEYS, "dc:date:expires"} - set(image)
        assert not missing
        assert parse_date(image["dc:date:expires"]) == expires.replace(tzinfo=dt.UTC)
        assert image["ad:mpuri"].startswith("https://market.test/store/vm/image/")
    assert len(checked.imagelist.images) == 2
    assert not checked.imagelist.dropped_images


def test_versions_strictly_increase_and_ids_stay(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    versions = [_publish_va(sessions, seeded, settings) for _ in range(3)]
    assert versions == sorted(versions, key=int)
    assert len(set(versions)) == 3
    _, payload = _files(settings, "vappliance", "alma9")
    assert json.loads(payload)["hv:imagelist"]["hv:version"] == versions[-1]
    vo_versions = [_publish_vo(sessions, seeded, settings) for _ in range(2)]
    assert int(vo_versions[1]) > int(vo_versions[0])


def test_next_hv_version_never_goes_back() -> None:
    now = dt.datetime(2026, 11, 29, 22, 0, 5, tzinfo=dt.UTC)
    assert next_hv_version(None, now) == "20261129220005"
    assert next_hv_version("20261129220005", now) == "20261129220006"
    assert next_hv_version("20301231000000", now) == "20301231000001"  # clock went back
    assert next_hv_version("20261129215959", now) == "20261129220005"


def test_vo_list_ids_expiry_and_update(
    settings: MarketSettings,
    sessions: sessionmaker[Session],
    seeded: Seeded,
    test_pki: TestPki,
    openssl: str,
) -> None:
    _publish_vo(sessions, seeded, settings)
    signed, payload = _files(settings, "vo", "vo.example.org")
    assert openssl_smime_verify(openssl, signed, test_pki.trust_dir).returncode == 0
    body = _verified(test_pki, signed).imagelist
    raw = json.loads(payload)["hv:imagelist"]
    with sessions() as session:
        vo_list = session.get_one(VoList, seeded.vo_list_id)
        list_uuid, stored_expiry = vo_list.uuid, vo_list.expires_at
    assert raw["ad:vo"] == "vo.example.org"
    assert raw["ad:num_of_images"] == 2
    assert raw["hv:uri"] == "https://market.test/store/vo/vo.example.org/image.list"
    assert body.identifier == list_uuid
    expected = {vo_image_id(list_uuid, image) for image in seeded.image_uuids}
    ids = {image.identifier for image in body.images}
    assert ids == expected
    assert not ids & set(seeded.image_uuids)
    lifetime = body.expires - body.created
    assert lifetime == dt.timedelta(days=settings.vo_list_expiry_days)
    assert stored_expiry is not None
    assert stored_expiry.replace(tzinfo=dt.UTC) == body.expires

    # A new appliance version endorsed by the VO: the same image ids (an update, not a swap).
    with sessions() as session, session.begin():
        appliance = session.get_one(Appliance, seeded.appliance_id)
        old = session.get_one(ApplianceVersion, seeded.version_id)
        old.state = "archived"
        session.flush()
        images = list(session.scalars(sa.select(Image).order_by(Image.id)))
        new = add_version(session, appliance, "2.0", images)
        vo_list = session.get_one(VoList, seeded.vo_list_id)
        vo_list.entries[0].appliance_version_id = new.id
    _publish_vo(sessions, seeded, settings)
    updated = _verified(test_pki, _files(settings, "vo", "vo.example.org")[0]).imagelist
    assert {image.identifier for image in updated.images} == expected
    assert {image.version for image in updated.images} == {"2.0"}


@pytest.mark.parametrize("change", ["expired", "archived"])
def test_vo_list_leaves_out_unusable_versions(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded, change: str
) -> None:
    with sessions() as session, session.begin():
        version = session.get_one(ApplianceVersion, seeded.version_id)
        if change == "expired":
            version.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        else:
            version.state = "archived"
    _publish_vo(sessions, seeded, settings)
    _, payload = _files(settings, "vo", "vo.example.org")
    assert json.loads(payload)["hv:imagelist"]["hv:images"] == []


def test_nothing_to_publish_changes_nothing(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    with sessions() as session, session.begin():
        session.get_one(ApplianceVersion, seeded.version_id).state = "archived"
    with sessions() as session, pytest.raises(MarketPublishError) as caught:
        publish_appliance(session, session.get_one(Appliance, seeded.appliance_id), settings)
    assert caught.value.exit_code == 88
    assert "has no published version" in str(caught.value)
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PublishedDocument)) == 0
    assert not (settings.store_dir / "vappliance").exists()


def test_rolled_back_publication_writes_no_file(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    with sessions() as session:
        publish_appliance(session, session.get_one(Appliance, seeded.appliance_id), settings)
        session.rollback()
        session.commit()  # a later commit of the same session writes nothing either
    assert list((settings.store_dir / "vappliance" / "alma9").iterdir()) == []
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PublishedDocument)) == 0


def test_unusable_service_key_is_a_settings_error(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    assert settings.signer_key is not None
    settings.signer_key.chmod(0o644)
    with sessions() as session, pytest.raises(MarketSettingsError) as caught:
        publish_appliance(session, session.get_one(Appliance, seeded.appliance_id), settings)
    assert caught.value.exit_code == 87
    assert "too open" in str(caught.value)


def test_endorsed_original_kept_and_detached_signature_hook(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    original = b"MIME-Version: 1.0\nthe endorser's signed bytes\n"
    with sessions() as session, session.begin():
        session.get_one(ApplianceVersion, seeded.version_id).endorsed_list = original

    def fake_armor(payload: bytes, _settings: object) -> bytes:
        return b"-----BEGIN PGP SIGNATURE-----\n" + hashlib.sha256(payload).hexdigest().encode()

    register_detached_signer(fake_armor)
    try:
        _publish_va(sessions, seeded, settings)
    finally:
        unregister_detached_signer(fake_armor)
    directory = settings.store_dir / "vappliance" / "alma9"
    assert (directory / "endorsed" / "image.list").read_bytes() == original
    payload = (directory / "image.list.json").read_bytes()
    assert (directory / "image.list.json.asc").read_bytes() == fake_armor(payload, None)
    with sessions() as session:
        assert session.scalars(sa.select(PublishedDocument.pgp_sig)).one() == fake_armor(
            payload, None
        )
        session.get_one(ApplianceVersion, seeded.version_id).endorsed_list = None
        session.commit()
    _publish_va(sessions, seeded, settings)  # no import, no signer: neither file stays
    assert not (directory / "endorsed" / "image.list").exists()
    assert not (directory / "image.list.json.asc").exists()


def test_an_older_publication_never_overwrites_a_newer_file(tmp_path: Path) -> None:
    def document(version: str) -> PublishedDocument:
        body = json.dumps({"hv:imagelist": {"hv:version": version}}).encode()
        return PublishedDocument(hv_version=version, json=body, smime=b"S" + body, pgp_sig=None)

    write_document(tmp_path, ("vo", "x"), document("20261129220010"))
    write_document(tmp_path, ("vo", "x"), document("20261129220009"))  # a slower worker
    assert b"20261129220010" in (tmp_path / "vo" / "x" / "image.list").read_bytes()
    write_document(tmp_path, ("vo", "x"), document("20261129220011"))
    assert b"20261129220011" in (tmp_path / "vo" / "x" / "image.list.json").read_bytes()


def test_vo_image_ids_are_name_based() -> None:
    list_uuid, image_uuid = uuid.uuid4(), uuid.uuid4()
    first = vo_image_id(list_uuid, image_uuid)
    assert first == vo_image_id(str(list_uuid), str(image_uuid))
    assert uuid.UUID(first).version == 5
    assert first != str(image_uuid)
    assert vo_image_id(uuid.uuid4(), image_uuid) != first
