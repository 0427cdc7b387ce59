"""``/store`` served by the market: validators and 304s, token-gated VO lists, no traversal.

The router runs in a FastAPI app over the real database and store (httpx in process); the
end-to-end test (test_e2e_market.py) serves the same router with uvicorn.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from imagelist.db.market import open_database
from imagelist.db.market.models import AccessToken, Appliance, Vo
from imagelist.market.publication import publish_appliance, publish_vo_list
from imagelist.market.settings import MarketSettings
from imagelist.market.store_routes import StoreMiddleware, store_router
from tests.market.pubsupport import add_token, market_settings, seed, service_credential
from tests.pki import TestPki

VA = "/store/vappliance/alma9/image.list"
VO = "/store/vo/vo.example.org/image.list"


@pytest.fixture(params=["router", "middleware"])
def client(
    request: pytest.FixtureRequest, tmp_path: Path, test_pki: TestPki, database_url: str
) -> Iterator[TestClient]:
    settings = market_settings(tmp_path, service_credential(test_pki), database_url=database_url)
    engine = open_database(settings.database_url)
    with Session(engine) as session, session.begin():
        seeded = seed(session, gated=True)
        publish_appliance(session, session.get_one(Appliance, seeded.appliance_id), settings)
        publish_vo_list(session, session.get_one(Vo, seeded.vo_id), settings)
        good = add_token(session, seeded.person_id, ["vo:vo.example.org:read"])
        other = add_token(session, seeded.person_id, ["vo:other:read", "market:write"])
        expired = add_token(session, seeded.person_id, ["vo:vo.example.org:read"], days=-1)
        revoked = add_token(session, seeded.person_id, ["vo:vo.example.org:read"])
        session.flush()
        row = session.query(AccessToken).filter_by(
            token_sha256=hashlib.sha256(revoked.encode()).hexdigest()
        )
        row.one().revoked_at = dt.datetime.now(dt.UTC)
    app = FastAPI()
    app.state.settings = settings
    app.state.engine = engine
    if request.param == "router":
        app.include_router(store_router())
    else:  # as create_app serves /store: ahead of every other middleware
        app.add_middleware(StoreMiddleware)
    with TestClient(app) as running:
        running.tokens = {"good": good, "other": other, "expired": expired, "revoked": revoked}  # type: ignore[attr-defined]
        running.settings = settings  # type: ignore[attr-defined]
        yield running
    engine.dispose()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_public_list_validators_and_304(client: TestClient) -> None:
    settings: MarketSettings = client.settings  # type: ignore[attr-defined]
    on_disk = (settings.store_dir / "vappliance" / "alma9" / "image.list").read_bytes()
    response = client.get(VA)
    assert response.status_code == 200
    assert response.content == on_disk
    etag = response.headers["etag"]
    assert etag == '"' + hashlib.sha256(on_disk).hexdigest() + '"'
    assert response.headers["cache-control"] == "public, no-cache"
    modified = response.headers["last-modified"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"x", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        again = client.get(VA, headers=headers)
        assert again.status_code == 304, headers
        assert again.content == b""
        assert again.headers["etag"] == etag
    assert client.get(VA, headers={"If-None-Match": '"stale"'}).status_code == 200
    earlier = format_datetime(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), usegmt=True)
    assert client.get(VA, headers={"If-Modified-Since": earlier}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    mixed = {"If-None-Match": '"stale"', "If-Modified-Since": modified}
    assert client.get(VA, headers=mixed).status_code == 200
    head = client.head(VA)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(on_disk))
    json_file = client.get(VA + ".json")
    assert json_file.headers["content-type"] == "application/json"


def test_gated_vo_list_needs_a_token_with_its_scope(client: TestClient) -> None:
    tokens: dict[str, str] = client.tokens  # type: ignore[attr-defined]
    anonymous = client.get(VO)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthenticated"
    assert "vo:vo.example.org:read" in anonymous.json()["detail"]
    assert "Basic" in anonymous.headers["www-authenticate"]
    bearer = client.get(VO, headers={"Authorization": f"Bearer {tokens['good']}"})
    assert bearer.status_code == 200
    assert bearer.content.startswith(b"MIME-Version: 1.0")
    assert bearer.headers["cache-control"] == "private, no-cache"
    basic = client.get(VO, headers=_basic(tokens["good"], "x-oauth-basic"))
    assert basic.status_code == 200
    cached = client.get(
        VO,
        headers={**_basic(tokens["good"], "x-oauth-basic"), "If-None-Match": basic.headers["etag"]},
    )
    assert cached.status_code == 304
    # a 304 is never a way around the token
    assert client.get(VO, headers={"If-None-Match": "*"}).status_code == 401
    for name in ("expired", "revoked"):
        refused = client.get(VO, headers={"Authorization": f"Bearer {tokens[name]}"})
        assert refused.status_code == 401, name
        assert refused.json() == {
            "detail": "token unknown, expired or revoked",
            "code": "unauthenticated",
        }
    assert client.get(VO, headers=_basic(tokens["good"], "secret")).status_code == 401
    assert client.get(VO, headers={"Authorization": "Basic !!"}).status_code == 401
    assert client.get(VO, headers={"Authorization": "Bearer nope"}).status_code == 401
    wrong = client.get(VO, headers={"Authorization": f"Bearer {tokens['other']}"})
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "forbidden"
    assert client.get("/store/vo/unknown/image.list").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/store/../market.db",
        "/store/%2e%2e/market.db",
        "/store/vo/..%2f..%2fmarket.db",
        "/store/vappliance/alma9/.image.list.tmp",
        "/store/vappliance//alma9/image.list",
        "/store/",
        "/store/vappliance/alma9",
        "/store/vappliance/alma9/missing",
    ],
)
def test_no_traversal_and_no_directory_listing(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"SQLite" not in response.content


def test_link_planted_in_store_is_not_followed(client: TestClient, tmp_path: Path) -> None:
    settings: MarketSettings = client.settings  # type: ignore[attr-defined]
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    (settings.store_dir / "vappliance" / "alma9" / "link").symlink_to(secret)
    (settings.store_dir / "vappliance" / "other").symlink_to(
        settings.store_dir / "vappliance" / "alma9"
    )
    assert client.get("/store/vappliance/alma9/link").status_code == 404
    assert client.get("/store/vappliance/other/image.list").status_code == 404


def test_reading_a_gated_list_writes_nothing(client: TestClient) -> None:
    """The store checks the token as the API does, but a read leaves ``last_used`` alone."""
    tokens: dict[str, str] = client.tokens  # type: ignore[attr-defined]
    engine = client.app.state.engine  # type: ignore[attr-defined]

    def rows() -> list[tuple[object, ...]]:
        with Session(engine) as session:
            return [
                (t.id, t.last_used, t.revoked_at)
                for t in session.query(AccessToken).order_by(AccessToken.id)
            ]

    before = rows()
    for _ in range(2):
        answer = client.get(VO, headers={"Authorization": f"Bearer {tokens['good']}"})
        assert answer.status_code == 200
    assert rows() == before
