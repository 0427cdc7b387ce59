"""A token-gated VO list is read only with the scope ``vo:<vo>:read`` or a role in the VO.

``/store/vo/<vo>/`` and ``GET /api/v1/vos/<vo>/list`` refuse everyone else, so no other door may
show what the list holds: not the API to a client certificate (a certificate carries no token
scopes), not the VO page, the VO index, the catalogue's "Endorsed by VO" facet or an appliance
page. Every refused read leaves the database as it was; SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelist.market.common import CLI
from imagelist.market.people import add_identity
from tests.httpserver import HttpServer
from tests.market.pubsupport import service_credential
from tests.market.support import Market, certificate_headers, running_market, settings_for, snapshot
from tests.market.test_api_vos import _published_version
from tests.pki import TestPki

GATED = "secret.vo"
PROXY = ("127.0.0.1", 40000)


@pytest.fixture
def market(database_url: str, tmp_path: Path, test_pki: TestPki) -> Iterator[Market]:
    """A signing market that trusts its client (127.0.0.1) as the TLS proxy."""
    cert, key = service_credential(test_pki).write(tmp_path / "service")
    settings = settings_for(
        tmp_path,
        database_url,
        ca_dir=test_pki.trust_dir,
        signer_cert=cert,
        signer_key=key,
        trusted_proxies=("127.0.0.1/32",),
    )
    with running_market(settings, client=PROXY) as running:
        yield running


@pytest.fixture
def gated(market: Market, server: HttpServer) -> Market:
    """VO ``secret.vo`` (gated) has published a list holding appliance ``ubuntu``."""
    _published_version(market, server)
    market.person("manny")
    market.vo(GATED, "manny", gated=True)
    for step in ("draft/entries", "draft/publish"):
        body = {"appliance": "ubuntu"} if step == "draft/entries" else None
        answer = market.call("POST", f"/api/v1/vos/{GATED}/list/{step}", "manny", json=body)
        assert answer.status_code in (200, 201), answer.text
    return market


@pytest.mark.parametrize("registered", [False, True])
def test_a_client_certificate_is_no_read_scope(
    gated: Market, test_pki: TestPki, registered: bool
) -> None:
    if registered:  # a person of the market, without a role in the VO
        good = test_pki.good
        gated.person("carol", dn=good.subject_oneline, issuer=good.issuer_oneline)
    before = snapshot(gated.engine)
    answer = gated.call(
        "GET", f"/api/v1/vos/{GATED}/list", headers=certificate_headers(test_pki.good)
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "forbidden"
    assert "\n" not in answer.json()["detail"]
    assert "ubuntu" not in answer.text
    assert snapshot(gated.engine) == before
    # the scope and a role still open it
    assert gated.call("GET", f"/api/v1/vos/{GATED}/list", "manny").status_code == 200


def _titles(html: str) -> list[str]:
    return re.findall(r'<a href="/appliances/([^"]+)">', html)


def test_the_pages_do_not_show_a_gated_list(gated: Market) -> None:
    client = gated.client
    before = snapshot(gated.engine)
    page = client.get(f"/vos/{GATED}")
    assert page.status_code == 200
    assert _titles(page.text) == []  # no entry of the list
    assert "ubuntu" not in page.text.lower()  # nor in the VO's history
    assert "vo:secret.vo:read" in page.text  # says what reading it needs
    index = client.get("/vos")
    assert "1 appliance" not in index.text
    catalogue = client.get("/")
    assert GATED not in catalogue.text  # not a value of "Endorsed by VO"
    assert _titles(client.get("/", params={"vo": GATED}).text) == []
    appliance = client.get("/appliances/ubuntu")
    assert appliance.status_code == 200
    assert f"/vos/{GATED}" not in appliance.text
    assert snapshot(gated.engine) == before


def test_a_role_in_the_gated_vo_still_sees_its_list(gated: Market, test_pki: TestPki) -> None:
    good = test_pki.good
    with gated.session() as session:
        add_identity(session, CLI, gated.people["manny"], "x509", good.subject_oneline,
                     good.issuer_oneline)  # fmt: skip
    client = gated.client
    login = client.get("/login", headers=certificate_headers(test_pki.good))
    token = re.search(r'name="csrf-token" content="([^"]+)"', login.text)
    assert token
    logged = client.post(
        "/login",
        data={"csrf_token": token.group(1)},
        headers=certificate_headers(test_pki.good),
        follow_redirects=False,
    )
    assert logged.status_code == 303
    page = client.get(f"/vos/{GATED}")
    assert "ubuntu" in _titles(page.text)


def test_a_public_vo_list_stays_public(market: Market, server: HttpServer) -> None:
    _published_version(market, server)
    market.person("manny")
    market.vo("open.vo", "manny")
    market.call(
        "POST", "/api/v1/vos/open.vo/list/draft/entries", "manny", json={"appliance": "ubuntu"}
    )
    market.call("POST", "/api/v1/vos/open.vo/list/draft/publish", "manny")
    assert market.call("GET", "/api/v1/vos/open.vo/list").status_code == 200
    assert "ubuntu" in _titles(market.client.get("/vos/open.vo").text)
    assert "open.vo" in market.client.get("/").text
    assert "/vos/open.vo" in market.client.get("/appliances/ubuntu").text
