"""Nothing a maintainer or a login provider types becomes a mail header line.

The notification mails name the appliance and the version in their subject and go to the
address stored for a person. The API refuses a version name with a line end; the import of a
signed list took ``hv:version`` as it came, so a maintainer could store ``1\\nBcc: ...``: the
import must refuse it as the API does (422, one line, the database unchanged; SQLite and
PostgreSQL). An address with a line end (from the admin CLI or an OIDC provider) must cost
its own mail only: the others are sent, the run does not stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from imagelist.db.market.models import Person
from imagelist.market.web.notify import send_due
from tests.market.conftest import market  # noqa: F401 - fixture
from tests.market.support import Market, snapshot
from tests.market.test_import import URL, _setup, _signed
from tests.market_web.smtp import SmtpServer
from tests.market_web.test_notify import NOW, World, build, recipients, web_settings
from tests.pki import TestPki


@pytest.mark.parametrize("name", ["1\nBcc: eve@example.org", "1.0\rX", "2 0", "a\tb"])
def test_an_imported_version_name_follows_the_api_rule(
    market: Market,  # noqa: F811
    test_pki: TestPki,
    name: str,
) -> None:
    _setup(market, test_pki)
    before = snapshot(market.engine)
    answer = market.call("POST", URL, "ann", content=_signed(test_pki, name))
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "import_refused"
    assert "\n" not in answer.json()["detail"]
    assert "hv:version" in answer.json()["detail"]
    assert snapshot(market.engine) == before
    good = market.call("POST", URL, "ann", content=_signed(test_pki, "1.0-rc1+b2~x"))
    assert good.status_code == 201, good.text


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_a_bad_address_costs_its_own_mail_only(tmp_path: Path, smtp: SmtpServer) -> None:
    world = World(tmp_path)
    build(world, expires=NOW + timedelta(days=4))
    with world.sessions() as session:
        olga = session.query(Person).filter_by(display_name="Olga Owner").one()
        olga.email = "olga@example.org\nBcc: eve@example.org"
        olga_id = olga.id
        session.commit()
    report = send_due(world.sessions, world.settings, web_settings(tmp_path, smtp.port), now=NOW)
    messages = smtp.mailbox.take()
    assert recipients(messages) == [("mike@example.org",)]
    assert all("eve@example.org" not in str(m.message) for m in messages)
    assert [note.person_id for note, _why in report.failed] == [olga_id]
    assert all("\n" not in why for _note, why in report.failed)
