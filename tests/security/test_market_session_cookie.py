"""The market's session cookie is ``Secure`` when the page came over https through the proxy.

``imagelist-market serve`` runs uvicorn with ``proxy_headers=False`` (a client must never move
``request.client`` with ``X-Forwarded-For``), so behind the shipped nginx (TLS on 443,
``X-Forwarded-Proto $scheme``) the application itself is spoken to in plain http. The session
cookie (a logged-in person) must still be ``Secure``, or a browser sends it over any plain
``http://`` request to the host, where a network attacker reads it. The test client here speaks
to the application as nginx does, without uvicorn's proxy-header rewriting (as ``serve``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.market.support import Market, running_market, settings_for, snapshot

PROXY = ("127.0.0.1", 40000)
CERTIFICATE = {
    "X-SSL-Client-Verify": "SUCCESS",
    "X-SSL-Client-S-DN": "CN=Alice,O=Endorsers,DC=imagelist-test,DC=org",
    "X-SSL-Client-I-DN": "CN=Test Intermediate CA,DC=imagelist-test,DC=org",
}


@pytest.fixture
def market(database_url: str, tmp_path: Path) -> Iterator[Market]:
    settings = settings_for(tmp_path, database_url, trusted_proxies=("127.0.0.1/32",))
    with running_market(settings, client=PROXY) as running:
        yield running


def _login(market: Market, headers: dict[str, str]) -> str:
    page = market.client.get("/login", headers=headers)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token, page.text
    cookie = page.headers["set-cookie"]
    # sent back by hand: the test client (http://testserver) keeps a Secure cookie to itself
    session = {"Cookie": cookie.split(";", 1)[0]}
    market.client.cookies.clear()
    answer = market.client.post(
        "/login",
        data={"csrf_token": token.group(1)},
        headers={**headers, **session},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    for value in (cookie, answer.headers["set-cookie"]):
        assert "HttpOnly" in value
        assert "SameSite=Lax" in value
    return str(answer.headers["set-cookie"])


def test_session_cookie_is_secure_behind_the_https_proxy(market: Market) -> None:
    cookie = _login(market, {**CERTIFICATE, "X-Forwarded-Proto": "https"})
    assert "; Secure" in cookie


def test_plain_http_without_a_proxy_keeps_a_usable_cookie(market: Market) -> None:
    before = snapshot(market.engine)
    cookie = _login(market, CERTIFICATE)  # a development set-up on http://127.0.0.1
    assert "Secure" not in cookie
    me = market.client.get("/me", headers={"Cookie": cookie.split(";", 1)[0]})
    assert me.status_code == 200
    assert "<h1>Alice</h1>" in me.text
    assert len(snapshot(market.engine)["person"]) == len(before["person"]) + 1
