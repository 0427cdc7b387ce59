"""``resign --due``: VO lists close to their expiry get a new hv:version, the same content."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from imagelist.db.market import open_database
from imagelist.db.market.models import Vo, VoList, VoListEntry
from imagelist.document import parse_date
from imagelist.errors import UsageError
from imagelist.market.publication import publish_vo_list
from imagelist.market.resign import render, report_document, resign_due
from imagelist.market.settings import MarketSettings
from tests.market.pubsupport import Seeded, market_settings, seed, service_credential
from tests.pki import TestPki


@pytest.fixture
def settings(tmp_path: Path, test_pki: TestPki, database_url: str) -> MarketSettings:
    return market_settings(tmp_path, service_credential(test_pki), database_url=database_url)


@pytest.fixture
def sessions(settings: MarketSettings) -> Iterator[sessionmaker[Session]]:
    engine = open_database(settings.database_url)
    yield sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def seeded(sessions: sessionmaker[Session], settings: MarketSettings) -> Seeded:
    with sessions() as session, session.begin():
        seeded = seed(session)
        # a second VO endorsing the same version
        vo = Vo(name="second", description="", created=dt.datetime.now(dt.UTC))
        session.add(vo)
        session.flush()
        vo_list = VoList(
            vo_id=vo.id,
            uuid=str(uuid.uuid4()),
            state="published",
            created_at=dt.datetime.now(dt.UTC),
        )
        session.add(vo_list)
        session.flush()
        session.add(
            VoListEntry(
                vo_list_id=vo_list.id,
                appliance_id=seeded.appliance_id,
                appliance_version_id=seeded.version_id,
            )
        )
        session.flush()
        for each in session.query(Vo).all():
            publish_vo_list(session, each, settings)
    return seeded


def _list(settings: MarketSettings, vo: str) -> dict[str, object]:
    path = settings.store_dir / "vo" / vo / "image.list.json"
    body: dict[str, object] = json.loads(path.read_bytes())["hv:imagelist"]
    return body


def _age(sessions: sessionmaker[Session], vo: str, days_left: float) -> None:
    with sessions() as session, session.begin():
        vo_list = (
            session.query(VoList).join(Vo).filter(Vo.name == vo, VoList.state == "published").one()
        )
        vo_list.expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=days_left)


def test_due_lists_resigned_once_with_same_content(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    before = {vo: _list(settings, vo) for vo in ("vo.example.org", "second")}
    _age(sessions, "vo.example.org", 2)
    report = resign_due(sessions, settings, margin_days=7)
    assert report.exit_code == 0
    assert report.checked == 2
    assert [item.vo for item in report.resigned] == ["vo.example.org"]
    after = _list(settings, "vo.example.org")
    assert int(str(after["hv:version"])) > int(str(before["vo.example.org"]["hv:version"]))
    assert after["hv:images"] == before["vo.example.org"]["hv:images"]
    assert after["dc:identifier"] == before["vo.example.org"]["dc:identifier"]
    fresh = parse_date(str(after["dc:date:expires"])) - dt.datetime.now(dt.UTC)
    assert fresh > dt.timedelta(days=29)  # a full lifetime again, not the 2 days left
    assert _list(settings, "second") == before["second"]
    lines = render(report)
    assert lines[0].startswith("VO vo.example.org: re-signed, hv:version ")
    assert lines[-1] == "1 VO list(s) re-signed, 0 failed, 1 not due"
    again = resign_due(sessions, settings, margin_days=7)  # idempotent: nothing due now
    assert again.resigned == ()
    assert again.failed == ()
    assert render(again) == ["0 VO list(s) re-signed, 0 failed, 2 not due"]


def test_one_failure_does_not_stop_the_others(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded, tmp_path: Path
) -> None:
    _age(sessions, "vo.example.org", -1)  # already expired: due
    _age(sessions, "second", 1)
    directory = settings.store_dir / "vo" / "vo.example.org"
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()
    directory.symlink_to(tmp_path, target_is_directory=True)
    old_second = _list(settings, "second")["hv:version"]
    report = resign_due(sessions, settings, margin_days=7)
    assert report.exit_code == 88
    assert [item.vo for item in report.failed] == ["vo.example.org"]
    assert [item.vo for item in report.resigned] == ["second"]
    assert _list(settings, "second")["hv:version"] != old_second
    document = report_document(report)
    assert document["ok"] is False
    assert document["checked"] == 2
    assert document["failed"][0]["vo"] == "vo.example.org"
    assert "symbolic link" in document["failed"][0]["error"]
    assert document["resigned"][0]["new_version"] == _list(settings, "second")["hv:version"]
    with sessions() as session:  # the failed VO's list is as it was
        failed = session.query(VoList).join(Vo).filter(Vo.name == "vo.example.org").one()
        assert failed.expires_at is not None
        assert failed.expires_at.replace(tzinfo=dt.UTC) < dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("margin", [-1, 30, 31])
def test_margin_must_be_below_the_lifetime(
    settings: MarketSettings, sessions: sessionmaker[Session], margin: int
) -> None:
    with pytest.raises(UsageError, match="--margin-days"):
        resign_due(sessions, settings, margin_days=margin)


def _cli(settings: MarketSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "IMAGELIST_MARKET_SIGNER_CERT": str(settings.signer_cert),
        "IMAGELIST_MARKET_SIGNER_KEY": str(settings.signer_key),
        "IMAGELIST_MARKET_PUBLIC_BASE_URL": settings.public_base_url,
    }
    home = settings.data_dir.parent
    command = [sys.executable, "-m", "imagelist.cli.imagelist_market", "--home", str(home)]
    command += ["--database", settings.database_url, *args]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def test_cli_resign_due_text_json_and_exit_codes(
    settings: MarketSettings, sessions: sessionmaker[Session], seeded: Seeded, tmp_path: Path
) -> None:
    _age(sessions, "second", 3)
    text = _cli(settings, "resign", "--due")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[-1] == "1 VO list(s) re-signed, 0 failed, 1 not due"
    quiet = _cli(settings, "resign", "--due", "-f", "json")
    assert quiet.returncode == 0
    assert json.loads(quiet.stdout) == {"ok": True, "checked": 2, "resigned": [], "failed": []}
    _age(sessions, "vo.example.org", 1)
    directory = settings.store_dir / "vo" / "vo.example.org"
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()
    directory.symlink_to(tmp_path, target_is_directory=True)
    failed = _cli(settings, "resign", "--due", "-f", "json")
    assert failed.returncode == 88
    assert json.loads(failed.stdout)["failed"][0]["vo"] == "vo.example.org"
    assert failed.stderr.splitlines() == [
        "imagelist-market: error: 1 VO list(s) not re-signed: vo.example.org"
    ]
    usage = _cli(settings, "resign", "--due", "--margin-days", "45")
    assert usage.returncode == 1
    assert "--margin-days must be" in usage.stderr
    assert settings.signer_key is not None
    settings.signer_key.chmod(0o644)
    unusable = _cli(settings, "resign", "--due")
    assert unusable.returncode == 87
    assert len(unusable.stderr.splitlines()) == 1
