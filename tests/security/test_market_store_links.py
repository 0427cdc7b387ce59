"""The marketplace's store never writes through a planted link or outside its directory.

Whoever can write in ``<data dir>/store`` (a web server's user, a sloppy deployment) could
plant ``store/vo/<vo>`` -> ``/somewhere`` or ``image.list`` -> a file elsewhere. Publication
must refuse the directory link before anything reaches the database (exit 88, the message names
the link) and must replace a planted file link by the new file, never write to its target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from imagelist.db.market import open_database
from imagelist.db.market.models import PublishedDocument, Vo, VoList
from imagelist.errors import MarketPublishError
from imagelist.market.publication import publish_vo_list
from imagelist.market.settings import MarketSettings
from imagelist.market.storefiles import StoreDirectory
from tests.market.conftest import database_url  # noqa: F401
from tests.market.pubsupport import Seeded, market_settings, seed, service_credential
from tests.pki import TestPki


@pytest.fixture
def settings(tmp_path: Path, test_pki: TestPki, database_url: str) -> MarketSettings:  # noqa: F811
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


def _state(sessions: sessionmaker[Session], seeded: Seeded) -> tuple[object, ...]:
    with sessions() as session:
        vo_list = session.get_one(VoList, seeded.vo_list_id)
        count = session.scalar(sa.select(sa.func.count()).select_from(PublishedDocument))
        return (count, vo_list.hv_version, vo_list.expires_at)


@pytest.mark.parametrize("planted", ["vo", "vo/vo.example.org"])
def test_directory_link_refused_and_database_unchanged(
    settings: MarketSettings,
    sessions: sessionmaker[Session],
    seeded: Seeded,
    tmp_path: Path,
    planted: str,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = settings.store_dir / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    before = _state(sessions, seeded)
    with sessions() as session, pytest.raises(MarketPublishError) as caught:
        publish_vo_list(session, session.get_one(Vo, seeded.vo_id), settings)
    assert caught.value.exit_code == 88
    assert "a symbolic link or not a directory" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert _state(sessions, seeded) == before
    assert list(outside.iterdir()) == []


def test_planted_file_link_is_replaced_not_followed(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    directory = settings.store_dir / "vo" / "vo.example.org"
    directory.mkdir(parents=True)
    (directory / "image.list").symlink_to(victim)
    (directory / "image.list.json").symlink_to(victim)
    with sessions() as session, session.begin():
        publish_vo_list(session, session.get_one(Vo, seeded.vo_id), settings)
    assert victim.read_bytes() == b"keep me"
    assert not (directory / "image.list").is_symlink()
    assert (directory / "image.list").read_bytes().startswith(b"MIME-Version: 1.0")


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b", "", "x" * 200])
def test_unsafe_names_never_become_paths(tmp_path: Path, name: str) -> None:
    store = StoreDirectory(tmp_path / "store")
    with pytest.raises(MarketPublishError, match="unsafe name"):
        store.write(("vo", name), {"image.list": b"x"})
    with pytest.raises(MarketPublishError, match="unsafe name"):
        store.write(("vo",), {name: b"x"})
    assert store.read(("vo", name, "image.list")) is None
    assert not (tmp_path / "x").exists()
