"""Notification mails through a real SMTP server (aiosmtpd): each once, right people, links."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from imagelist.db.market import open_database
from imagelist.db.market.models import (
    Appliance,
    ApplianceMember,
    ApplianceVersion,
    Person,
    SentNotification,
    Vo,
    VoList,
    VoListEntry,
    VoRole,
)
from imagelist.market.settings import MarketSettings
from imagelist.market.web.notify import send_due
from imagelist.market.web.settings import WebSettings
from tests.market_web.nginx import free_port
from tests.market_web.smtp import SmtpServer

NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
BASE = "https://market.example.org"


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = MarketSettings.embedded(tmp_path, public_base_url=BASE)
        self.sessions = sessionmaker(open_database(self.settings.database_url))

    def person(self, session: Session, name: str, email: str | None) -> Person:
        person = Person(display_name=name, email=email, created=NOW)
        session.add(person)
        session.flush()
        return person

    def version(
        self, session: Session, appliance: Appliance, name: str, state: str, expires: datetime
    ) -> ApplianceVersion:
        version = ApplianceVersion(
            appliance_id=appliance.id,
            version=name,
            uuid=str(uuid.uuid4()),
            state=state,
            expires_at=expires,
            created_at=NOW - timedelta(days=100),
        )
        session.add(version)
        session.flush()
        return version


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def web_settings(tmp_path: Path, port: int) -> WebSettings:
    return WebSettings(
        session_key_file=tmp_path / "key",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="market@example.org",
    )


def build(world: World, expires: datetime) -> dict[str, int]:
    with world.sessions() as session:
        owner = world.person(session, "Olga Owner", "olga@example.org")
        keeper = world.person(session, "Mike Maintainer", "mike@example.org")
        silent = world.person(session, "No Mail", None)
        manager = world.person(session, "Vera Manager", "vera@example.org")
        world.person(session, "Bystander", "by@example.org")
        appliance = Appliance(
            slug="centos",
            uuid=str(uuid.uuid4()),
            title="CentOS 9",
            owner_id=owner.id,
            created=NOW,
        )
        session.add(appliance)
        session.flush()
        session.add(
            ApplianceMember(appliance_id=appliance.id, person_id=owner.id, permission="owner")
        )
        session.add(
            ApplianceMember(appliance_id=appliance.id, person_id=keeper.id, permission="maintainer")
        )
        session.add(
            ApplianceMember(appliance_id=appliance.id, person_id=silent.id, permission="maintainer")
        )
        version = world.version(session, appliance, "1.0", "published", expires)
        vo = Vo(name="biomed", description="", gated=False, created=NOW)
        session.add(vo)
        session.flush()
        session.add(VoRole(person_id=manager.id, vo_id=vo.id, role="manager"))
        vo_list = VoList(vo_id=vo.id, uuid=str(uuid.uuid4()), state="published", created_at=NOW)
        session.add(vo_list)
        session.flush()
        session.add(
            VoListEntry(
                vo_list_id=vo_list.id,
                appliance_id=appliance.id,
                appliance_version_id=version.id,
            )
        )
        session.commit()
        return {"appliance": appliance.id, "version": version.id, "vo": vo.id}


def recipients(messages: list) -> list[tuple[str, ...]]:  # type: ignore[type-arg]
    return sorted(tuple(m.rcpt_tos) for m in messages)


def test_owner_mails_five_days_before_on_the_day_and_after_each_once(
    world: World, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    build(world, expires=NOW + timedelta(days=4))
    settings = web_settings(tmp_path, smtp_server.port)

    assert (
        send_due(world.sessions, world.settings, settings, now=NOW - timedelta(days=2)).sent == []
    )
    assert smtp_server.mailbox.take() == []

    report = send_due(world.sessions, world.settings, settings, now=NOW)
    messages = smtp_server.mailbox.take()
    assert recipients(messages) == [("mike@example.org",), ("olga@example.org",)]
    assert report.no_address == 1
    for message in messages:
        assert message.mail_from == "market@example.org"
        assert "CentOS 9 1.0 expires on 2027-03-14" in message.subject
        assert f"{BASE}/appliances/centos" in message.text()
        assert message.message["To"] in ("mike@example.org", "olga@example.org")

    again = send_due(world.sessions, world.settings, settings, now=NOW + timedelta(hours=1))
    assert again.sent == []
    assert again.skipped == 2
    assert smtp_server.mailbox.take() == []

    send_due(world.sessions, world.settings, settings, now=NOW + timedelta(days=4, hours=-2))
    today = smtp_server.mailbox.take()
    assert recipients(today) == [("mike@example.org",), ("olga@example.org",)]
    assert all("expires today" in m.subject for m in today)

    after = NOW + timedelta(days=5, hours=1)
    send_due(world.sessions, world.settings, settings, now=after)
    expired = smtp_server.mailbox.take()
    owners = [m for m in expired if m.rcpt_tos != ["vera@example.org"]]
    (vo_mail,) = [m for m in expired if m.rcpt_tos == ["vera@example.org"]]
    assert vo_mail.subject == "[imagelist market] biomed: CentOS 9 1.0 has expired"
    assert recipients(owners) == [("mike@example.org",), ("olga@example.org",)]
    assert all("expired on 2027-03-14" in m.subject for m in owners)
    send_due(world.sessions, world.settings, settings, now=after + timedelta(days=1))
    assert smtp_server.mailbox.take() == []


def test_vo_managers_hear_of_expired_versions_and_updates_once(
    world: World, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    ids = build(world, expires=NOW + timedelta(days=60))
    settings = web_settings(tmp_path, smtp_server.port)
    send_due(world.sessions, world.settings, settings, now=NOW)
    assert smtp_server.mailbox.take() == []

    with world.sessions() as session:
        old = session.get(ApplianceVersion, ids["version"])
        assert old is not None
        old.state = "archived"
        appliance = session.get(Appliance, ids["appliance"])
        assert appliance is not None
        world.version(session, appliance, "2.0", "published", NOW + timedelta(days=300))
        session.commit()

    send_due(world.sessions, world.settings, settings, now=NOW)
    messages = smtp_server.mailbox.take()
    assert recipients(messages) == [("vera@example.org",), ("vera@example.org",)]
    subjects = sorted(m.subject for m in messages)
    assert subjects == [
        "[imagelist market] biomed: CentOS 9 1.0 is archived",
        "[imagelist market] biomed: update available for CentOS 9 (1.0 -> 2.0)",
    ]
    assert all(f"{BASE}/vos/biomed" in m.text() for m in messages)
    send_due(world.sessions, world.settings, settings, now=NOW + timedelta(hours=6))
    assert smtp_server.mailbox.take() == []


def test_a_refused_mail_is_retried_by_the_next_run(world: World, tmp_path: Path) -> None:
    build(world, expires=NOW + timedelta(days=3))
    closed = web_settings(tmp_path, free_port())
    with pytest.raises(ConnectionRefusedError):
        send_due(world.sessions, world.settings, closed, now=NOW)
    with world.sessions() as session:
        assert session.scalars(select(SentNotification)).all() == []
    server = SmtpServer().start()
    try:
        report = send_due(
            world.sessions, world.settings, web_settings(tmp_path, server.port), now=NOW
        )
        assert len(report.sent) == 2
        assert len(server.mailbox.take()) == 2
    finally:
        server.stop()
    with world.sessions() as session:
        rows = session.scalars(select(SentNotification)).all()
        assert sorted(r.address for r in rows) == ["mike@example.org", "olga@example.org"]
        assert all(r.sent_at is not None for r in rows)


def run_cli(home: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "IMAGELIST_MARKET_PUBLIC_BASE_URL": BASE,
        "IMAGELIST_MARKET_SMTP_HOST": "127.0.0.1",
        "IMAGELIST_MARKET_SMTP_PORT": str(port),
        "IMAGELIST_MARKET_SMTP_FROM": "market@example.org",
    }
    command = Path(sys.executable).with_name("imagelist-market")
    return subprocess.run(
        [str(command), "--home", str(home), "notify", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_cli_notify_sends_once_and_is_cron_safe(
    world: World, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    build(world, expires=datetime.now(UTC) + timedelta(days=2))
    dry = run_cli(tmp_path, smtp_server.port, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would send version-expiring to olga@example.org" in dry.stdout
    assert smtp_server.mailbox.take() == []

    first = run_cli(tmp_path, smtp_server.port, "-f", "json")
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    assert document["ok"] is True
    assert sorted(item["to"] for item in document["sent"]) == [
        "mike@example.org",
        "olga@example.org",
    ]
    assert document["no_address"] == 1
    assert recipients(smtp_server.mailbox.take()) == [("mike@example.org",), ("olga@example.org",)]

    second = run_cli(tmp_path, smtp_server.port)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == ("0 sent, 2 sent before, 0 failed, 1 without a mail address")
    assert smtp_server.mailbox.take() == []


def test_cli_notify_without_smtp_server_exits_80_in_one_line(world: World, tmp_path: Path) -> None:
    build(world, expires=datetime.now(UTC) + timedelta(days=2))
    port = free_port()
    done = run_cli(tmp_path, port)
    assert done.returncode == 80
    assert done.stderr.strip() == (
        f"imagelist-market: error: cannot send mail through 127.0.0.1:{port}: "
        "[Errno 111] Connection refused"
    )
    with world.sessions() as session:
        assert session.scalars(select(SentNotification)).all() == []
