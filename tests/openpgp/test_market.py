"""The marketplace signs its publications with its OpenPGP key and serves it at /keys/ (ADR 21)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from imagelist.companions import verify_companion_signature
from imagelist.db.market import open_database
from imagelist.db.market.models import Appliance, PublishedDocument
from imagelist.errors import MarketSettingsError
from imagelist.market.api.app import create_app
from imagelist.market.publication import publish_appliance
from imagelist.market.settings import MarketSettings
from imagelist.openpgp import read_certificates
from imagelist.smime import read_signed
from tests.market.pubsupport import Seeded, market_settings, seed, service_credential
from tests.openpgp.gpg import PAST, Key, Keyring, sqv
from tests.pki import TestPki


def _settings(tmp_path: Path, test_pki: TestPki, key: Path | None) -> MarketSettings:
    return market_settings(
        tmp_path,
        service_credential(test_pki),
        database_url=f"sqlite:///{tmp_path / 'market.db'}",
        openpgp_key=key,
    )


@pytest.fixture
def sessions_for() -> Iterator[object]:
    engines = []

    def make(settings: MarketSettings) -> sessionmaker[Session]:
        engine = open_database(settings.database_url)
        engines.append(engine)
        return sessionmaker(engine)

    yield make
    for engine in engines:
        engine.dispose()


def _publish(sessions: sessionmaker[Session], seeded: Seeded, settings: MarketSettings) -> None:
    with sessions() as session, session.begin():
        publish_appliance(session, session.get_one(Appliance, seeded.appliance_id), settings)


def test_publications_carry_the_openpgp_signature(
    tmp_path: Path, test_pki: TestPki, good_key: Key, sessions_for: object
) -> None:
    settings = _settings(tmp_path, test_pki, good_key.secret)
    sessions = sessions_for(settings)  # type: ignore[operator]
    with sessions() as session, session.begin():
        seeded = seed(session)
    _publish(sessions, seeded, settings)
    directory = settings.store_dir / "vappliance" / "alma9"
    signed = (directory / "image.list").read_bytes()
    json_file, asc = directory / "image.list.json", directory / "image.list.json.asc"
    assert json_file.read_bytes() == read_signed(signed).payload
    checked = sqv(good_key.public, asc, json_file)
    assert checked.returncode == 0, checked.stderr
    verified = verify_companion_signature(
        json_file.read_bytes(),
        asc.read_bytes(),
        read_certificates([good_key.public]),
        smime_payload=read_signed(signed).payload,
    )
    assert verified.fingerprint == good_key.fingerprint
    with sessions() as session:
        assert session.scalars(sa.select(PublishedDocument.pgp_sig)).one() == asc.read_bytes()

    with TestClient(create_app(settings, run_jobs=False)) as client:
        index = client.get("/keys/")
        assert index.status_code == 200
        (entry,) = index.json()["openpgp"]
        assert entry["fingerprint"] == good_key.fingerprint
        served = client.get(entry["url"])
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("application/pgp-keys")
        assert read_certificates_from(served.content, tmp_path) == good_key.fingerprint
        assert client.get("/keys/openpgp.asc").text == served.text
        assert client.get("/keys/0000.asc").status_code == 404


def read_certificates_from(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "served.asc"
    path.write_bytes(data)
    (cert,) = read_certificates([path])
    return cert.fingerprint


def test_an_unusable_key_publishes_nothing(
    tmp_path: Path, test_pki: TestPki, fresh_keyring: Keyring, sessions_for: object
) -> None:
    expired = fresh_keyring.generate("market-expired", expire="1d", faked=PAST)
    settings = _settings(tmp_path, test_pki, expired.secret)
    sessions = sessions_for(settings)  # type: ignore[operator]
    with sessions() as session, session.begin():
        seeded = seed(session)
    with pytest.raises(MarketSettingsError) as caught:
        _publish(sessions, seeded, settings)
    assert caught.value.exit_code == 87
    assert "\n" not in str(caught.value)
    assert not (settings.store_dir / "vappliance" / "alma9" / "image.list").exists()
    with sessions() as session:
        assert session.scalars(sa.select(PublishedDocument)).all() == []


def test_without_a_key_lists_carry_smime_only(
    tmp_path: Path, test_pki: TestPki, sessions_for: object
) -> None:
    settings = _settings(tmp_path, test_pki, None)
    sessions = sessions_for(settings)  # type: ignore[operator]
    with sessions() as session, session.begin():
        seeded = seed(session)
    _publish(sessions, seeded, settings)
    directory = settings.store_dir / "vappliance" / "alma9"
    assert (directory / "image.list").exists()
    assert not (directory / "image.list.json.asc").exists()
    with TestClient(create_app(settings, run_jobs=False)) as client:
        assert client.get("/keys/").json() == {"openpgp": []}
        assert client.get("/keys/openpgp.asc").status_code == 404
