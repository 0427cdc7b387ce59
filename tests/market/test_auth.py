"""Authentication: API tokens (hashed, scoped, expiring, revocable; Bearer and basic
``<token>:x-oauth-basic``) and the X.509 identity of a trusted reverse proxy's headers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from imagelist.db.market.models import AccessToken
from tests.market.support import Market, running_market, settings_for, snapshot
from tests.pki import TestPki

PROXY = ("127.0.0.1", 40000)


def test_tokens_are_stored_hashed_and_checked(market: Market) -> None:
    secret = market.person("ann")
    with market.session() as session:
        token = session.scalars(sa.select(AccessToken)).one()
        assert token.token_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str([getattr(token, c.key) for c in AccessToken.__table__.columns])
    me = market.call("GET", "/api/v1/me", "ann").json()
    assert me["via"] == "token"
    assert me["scopes"] == ["market:write"]
    assert me["person"]["display_name"] == "ann"
    basic = base64.b64encode(f"{secret}:x-oauth-basic".encode()).decode()
    assert (
        market.call("GET", "/api/v1/me", headers={"Authorization": f"Basic {basic}"}).json()["via"]
        == "token"
    )
    for header, words in [
        ("Bearer iml_wrong", "unknown API token"),
        ("Token abc", "Bearer"),
        ("Basic !!!", "malformed basic"),
        ("Basic " + base64.b64encode(f"{secret}:password".encode()).decode(), "x-oauth-basic"),
    ]:
        response = market.call("GET", "/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["code"] == "unauthenticated"
        assert words in response.json()["detail"]
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert secret not in response.text


def test_expired_and_revoked_tokens(market: Market) -> None:
    market.person("ann")
    with market.session() as session:
        token = session.scalars(sa.select(AccessToken)).one()
        token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = market.call("GET", "/api/v1/me", "ann")
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    market.person("bob")
    made = market.call(
        "POST", "/api/v1/me/tokens", "bob", json={"name": "laptop", "scopes": ["market:write"]}
    )
    assert made.status_code == 201, made.text
    second = made.json()["token"]
    assert second.startswith("iml_")
    listed = market.call("GET", "/api/v1/me/tokens", "bob").json()
    assert [t["name"] for t in listed] == ["test", "laptop"]
    assert all("token" not in t for t in listed)
    duplicate = market.call("POST", "/api/v1/me/tokens", "bob", json={"name": "laptop"})
    assert duplicate.status_code == 409
    for body, words in [
        ({"name": "x", "scopes": ["admin"]}, "scope 'admin'"),
        ({"name": "x", "days": 0}, "days"),
        ({"name": "x", "days": 9999}, "days"),
        ({"name": "x", "scopes": ["vo:nope:read"]}, "no VO"),
        ({"name": "x", "owner": 1}, "owner"),
    ]:
        refused = market.call("POST", "/api/v1/me/tokens", "bob", json=body)
        assert refused.status_code in (404, 422), (body, refused.text)
        assert words in refused.json()["detail"]
    revoked = market.call("DELETE", f"/api/v1/me/tokens/{made.json()['id']}", "bob")
    assert revoked.json()["revoked"] is True
    gone = market.call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {second}"})
    assert gone.status_code == 401
    assert "revoked" in gone.json()["detail"]
    # someone else's token cannot be revoked
    ann_token = market.call("DELETE", "/api/v1/me/tokens/1", "bob")
    assert ann_token.status_code == 404


def test_vo_read_scope_needs_a_role_through_the_api(market: Market) -> None:
    market.person("manny")
    market.person("bob")
    market.vo("vo.example.org", "manny")
    scope = {"name": "site", "scopes": ["vo:vo.example.org:read"]}
    assert market.call("POST", "/api/v1/me/tokens", "bob", json=scope).status_code == 403
    assert market.call("POST", "/api/v1/me/tokens", "manny", json=scope).status_code == 201


@pytest.fixture
def proxied(
    database_url: str, tmp_path: Path, test_pki: TestPki
) -> Iterator[tuple[Market, Market]]:
    """The same market seen from a trusted proxy (127.0.0.1) and from another peer."""
    settings = settings_for(tmp_path, database_url, trusted_proxies=("127.0.0.1/32",))
    with (
        running_market(settings, client=PROXY) as trusted,
        running_market(settings, client=("192.0.2.7", 5000)) as stranger,
    ):
        yield trusted, stranger


def _headers(test_pki: TestPki, verify: str = "SUCCESS") -> dict[str, str]:
    cert = test_pki.good.cert
    return {
        "X-SSL-Client-Verify": verify,
        "X-SSL-Client-S-DN": cert.subject.rfc4514_string(),
        "X-SSL-Client-I-DN": cert.issuer.rfc4514_string(),
    }


def test_x509_identity_from_a_trusted_proxy(
    proxied: tuple[Market, Market], test_pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    trusted, stranger = proxied
    good = test_pki.good
    trusted.person("ann", dn=good.subject_oneline, issuer=good.issuer_oneline)
    me = trusted.call("GET", "/api/v1/me", headers=_headers(test_pki)).json()
    assert me["via"] == "x509"
    assert me["dn"] == good.subject_oneline  # RFC 2253 converted to the canonical form
    assert me["person"]["display_name"] == "ann"
    created = trusted.call(
        "POST",
        "/api/v1/appliances",
        headers=_headers(test_pki),
        json={"slug": "by-cert", "title": "By certificate"},
    )
    assert created.status_code == 201, created.text
    before = snapshot(trusted.engine)
    failed = trusted.call("GET", "/api/v1/me", headers=_headers(test_pki, "FAILED:expired"))
    assert failed.status_code == 401
    none = trusted.call("GET", "/api/v1/me", headers=_headers(test_pki, "NONE")).json()
    assert none["via"] == "anonymous"
    ignored = stranger.call("GET", "/api/v1/me", headers=_headers(test_pki)).json()
    assert ignored["via"] == "anonymous"
    assert "not a trusted proxy" in caplog.text
    spoofed = stranger.call(
        "POST",
        "/api/v1/appliances",
        headers=_headers(test_pki),
        json={"slug": "spoofed", "title": "x"},
    )
    assert spoofed.status_code == 401
    unknown = {**_headers(test_pki), "X-SSL-Client-S-DN": "CN=Nobody,O=Example"}
    who = trusted.call("GET", "/api/v1/me", headers=unknown).json()
    assert who["via"] == "x509"
    assert "person" not in who
    refused = trusted.call(
        "POST", "/api/v1/appliances", headers=unknown, json={"slug": "x", "title": "x"}
    )
    assert refused.status_code == 403
    assert "is not the identity of any person" in refused.json()["detail"]
    garbage = {**_headers(test_pki), "X-SSL-Client-S-DN": "no dn here"}
    assert trusted.call("GET", "/api/v1/me", headers=garbage).status_code == 422
    assert snapshot(trusted.engine) == before
