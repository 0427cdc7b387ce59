"""Logins through the real nginx: certificates, sessions, CSRF, trusted proxies only."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from imagelist.db.market.models import AuditEvent, Identity, Person
from tests.market_web.app import RunningApp
from tests.market_web.nginx import Nginx
from tests.market_web.pki import WebPki
from tests.pki import Credential

FORGED = {
    "X-SSL-Client-Verify": "SUCCESS",
    "X-SSL-Client-S-DN": "CN=Good Endorser,O=Endorsers,DC=imagelist-test,DC=org",
    "X-SSL-Client-I-DN": "CN=Test Intermediate CA,DC=imagelist-test,DC=org",
}


def client(site: Nginx, web_pki: WebPki, cred: Credential | None, tmp_path: Path) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(web_pki.root_pem))
    if cred is not None:
        cert_path, key_path = cred.write(tmp_path / "client" / cred.subject_hash)
        context.load_cert_chain(cert_path, key_path)
    return httpx.Client(base_url=site.base_url, verify=context)


def csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, html
    return match.group(1)


def people(market: RunningApp) -> list[tuple[str, str, str]]:
    with market.sessions() as session:
        return [
            (p.display_name, i.subject, i.issuer)
            for p, i in session.execute(select(Person, Identity).join(Identity))
        ]


def test_certificate_login_registers_and_opens_a_session(
    site: Nginx, market: RunningApp, web_pki: WebPki, tmp_path: Path
) -> None:
    with client(site, web_pki, web_pki.endorser, tmp_path) as browser:
        page = browser.get("/login")
        assert page.status_code == 200
        assert web_pki.endorser.subject_oneline in page.text
        response = browser.post("/login", data={"csrf_token": csrf(page.text), "next": "/me"})
        assert response.status_code == 303
        assert response.headers["location"] == "/me"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "Secure" in cookie
        assert "SameSite=Lax" in cookie
        me = browser.get("/me")
        assert me.status_code == 200
        assert "<h1>Good Endorser</h1>" in me.text
    assert people(market) == [
        (
            "Good Endorser",
            web_pki.endorser.subject_oneline,
            web_pki.pki.intermediate.subject_oneline,
        )
    ]
    with market.sessions() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions == ["person.register"]


@pytest.mark.parametrize("token", [None, "forged-token-that-is-long-enough-to-look-real-000"])
def test_login_post_without_the_session_csrf_token_is_refused(
    token: str | None, site: Nginx, market: RunningApp, web_pki: WebPki, tmp_path: Path
) -> None:
    with client(site, web_pki, web_pki.endorser, tmp_path) as browser:
        browser.get("/login")
        data = {"next": "/me"} if token is None else {"csrf_token": token, "next": "/me"}
        response = browser.post("/login", data=data)
        assert response.status_code == 403
        assert "CSRF" in response.text
        assert browser.get("/me").status_code == 303  # to /login
    assert people(market) == []


def test_forged_headers_through_nginx_log_nobody_in(
    site: Nginx, market: RunningApp, web_pki: WebPki, tmp_path: Path
) -> None:
    with client(site, web_pki, None, tmp_path) as browser:
        page = browser.get("/login", headers=FORGED)
        assert 'id="no-certificate"' in page.text
        response = browser.post("/login", data={"csrf_token": csrf(page.text)}, headers=FORGED)
        assert response.status_code == 401
    assert people(market) == []


def test_headers_from_an_untrusted_peer_are_ignored(market: RunningApp) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=f"http://{market.address}", transport=transport) as direct:
        page = direct.get("/login", headers=FORGED)
        assert 'id="no-certificate"' in page.text
        response = direct.post("/login", data={"csrf_token": csrf(page.text)}, headers=FORGED)
        assert response.status_code == 401
    assert people(market) == []


def test_altered_session_cookie_is_anonymous(
    site: Nginx, market: RunningApp, web_pki: WebPki, tmp_path: Path
) -> None:
    with client(site, web_pki, web_pki.endorser, tmp_path) as browser:
        page = browser.get("/login")
        browser.post("/login", data={"csrf_token": csrf(page.text)})
        value = browser.cookies["market_session"]
        body, _, mac = value.partition(".")
        browser.cookies.clear()
        browser.cookies.set("market_session", body[:-2] + "xx." + mac)
        assert browser.get("/me").status_code == 303  # to /login


def test_logout_needs_csrf_and_ends_the_session(
    site: Nginx, market: RunningApp, web_pki: WebPki, tmp_path: Path
) -> None:
    with client(site, web_pki, web_pki.endorser, tmp_path) as browser:
        page = browser.get("/login")
        browser.post("/login", data={"csrf_token": csrf(page.text)})
        assert browser.post("/logout").status_code == 403
        me = browser.get("/me")
        assert me.status_code == 200
        assert browser.post("/logout", data={"csrf_token": csrf(me.text)}).status_code == 303
        assert browser.get("/me").status_code == 303  # to /login
