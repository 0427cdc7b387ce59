"""VO-wide lists through the API: draft entries, diff, publish, revert, expired and archived
versions refused or flagged, roles enforced; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from imagelist.db.market.models import ApplianceVersion, PublishedDocument, VoList
from tests.httpserver import HttpServer
from tests.market.support import Market, snapshot
from tests.market.test_api_versions import DATA, _draft, _verify

VO = "vo.example.org"


def _published_version(market: Market, server: HttpServer) -> int:
    server.put("/img", DATA)
    version_id = _draft(market, server)
    assert _verify(market, version_id)["state"] == "verified"
    assert market.call("POST", f"/api/v1/versions/{version_id}/publish", "ann").status_code == 200
    return version_id


def test_draft_publish_revert(market: Market, server: HttpServer) -> None:
    first = _published_version(market, server)
    market.person("manny")
    market.person("bob")
    market.vo(VO, "manny")
    assert market.call("GET", "/api/v1/vos").json()[0]["name"] == VO
    not_yet = market.call("GET", f"/api/v1/vos/{VO}/list")
    assert not_yet.status_code == 404
    before = snapshot(market.engine)
    for who in ("bob", "ann", None):
        refused = market.call(
            "POST", f"/api/v1/vos/{VO}/list/draft/entries", who, json={"appliance": "ubuntu"}
        )
        assert refused.status_code in (401, 403), refused.text
    assert market.call("GET", f"/api/v1/vos/{VO}/list/draft", "bob").status_code == 403
    assert snapshot(market.engine) == before
    added = market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "manny", json={"appliance": "ubuntu"}
    )
    assert added.status_code == 201, added.text
    draft = added.json()
    assert draft["diff"]["added"][0]["appliance"] == "ubuntu"
    again = market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "manny", json={"appliance": "ubuntu"}
    )
    assert again.status_code == 409
    bad = market.call(
        "POST",
        f"/api/v1/vos/{VO}/list/draft/entries",
        "manny",
        json={"appliance": "ubuntu", "extra": 1},
    )
    assert bad.status_code == 422
    published = market.call("POST", f"/api/v1/vos/{VO}/list/draft/publish", "manny")
    assert published.status_code == 200, published.text
    listed = market.call("GET", f"/api/v1/vos/{VO}/list").json()
    assert listed["state"] == "published"
    assert listed["entries"][0]["version_id"] == first
    assert listed["obsolete"] is False
    assert market.call("GET", f"/store/vo/{VO}/image.list").status_code == 200
    unchanged = market.call("POST", f"/api/v1/vos/{VO}/list/draft/publish", "manny")
    assert (unchanged.status_code, unchanged.json()["code"]) == (409, "illegal_state")
    # a new version: update the entry, see the diff, revert, then publish
    second = _published_version(market, server)
    updated = market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "manny", json={"appliance": "ubuntu"}
    ).json()
    assert updated["diff"]["updated"][0]["from_id"] == first
    assert updated["diff"]["updated"][0]["id"] == second
    # the published list still holds the now archived first version: flagged
    flagged = market.call("GET", f"/api/v1/vos/{VO}/list").json()
    assert flagged["entries"][0]["flag"] == "archived"
    assert flagged["obsolete"] is True
    reverted = market.call("POST", f"/api/v1/vos/{VO}/list/draft/revert", "manny").json()
    assert reverted["entries"][0]["version_id"] == first
    assert reverted["diff"] == {"added": [], "removed": [], "updated": []}
    archived_entry = market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/publish", "manny"
    )  # nothing changed
    assert archived_entry.status_code == 409
    market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "manny", json={"appliance": "ubuntu"}
    )
    assert market.call("POST", f"/api/v1/vos/{VO}/list/draft/publish", "manny").status_code == 200
    removed = market.call("DELETE", f"/api/v1/vos/{VO}/list/draft/entries/ubuntu", "manny")
    assert removed.json()["diff"]["removed"][0]["appliance"] == "ubuntu"
    gone = market.call("DELETE", f"/api/v1/vos/{VO}/list/draft/entries/ubuntu", "manny")
    assert gone.status_code == 404
    assert market.call("POST", f"/api/v1/vos/{VO}/list/draft/publish", "manny").status_code == 200
    with market.session() as session:
        lists = session.scalars(sa.select(VoList).order_by(VoList.id)).all()
        assert len({vo_list.uuid for vo_list in lists}) == 1  # the list id never changes
        versions = [
            d.hv_version
            for d in session.scalars(
                sa.select(PublishedDocument)
                .where(PublishedDocument.kind == "vo")
                .order_by(PublishedDocument.id)
            )
        ]
    assert versions == sorted(versions)
    assert len(set(versions)) == 3


def test_expired_and_unpublished_versions_cannot_be_added(
    market: Market, server: HttpServer
) -> None:
    version_id = _published_version(market, server)
    market.person("manny")
    market.vo(VO, "manny")
    draft_id = _draft(market, server)
    draft_name = market.call("GET", f"/api/v1/versions/{draft_id}").json()["version"]
    with market.session() as session:
        session.get_one(ApplianceVersion, version_id).expires_at = datetime.now(UTC) - timedelta(
            seconds=1
        )
    before = snapshot(market.engine)
    expired = market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "manny", json={"appliance": "ubuntu"}
    )
    assert (expired.status_code, expired.json()["code"]) == (409, "illegal_state")
    assert "expired" in expired.json()["detail"]
    unpublished = market.call(
        "POST",
        f"/api/v1/vos/{VO}/list/draft/entries",
        "manny",
        json={"appliance": "ubuntu", "version": draft_name},
    )
    assert unpublished.status_code == 409
    assert "unpublished" in unpublished.json()["detail"]
    nothing = market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "manny", json={"appliance": "nope"}
    )
    assert nothing.status_code == 404
    assert snapshot(market.engine) == before


def test_published_list_flags_an_expired_version(market: Market, server: HttpServer) -> None:
    version_id = _published_version(market, server)
    market.person("manny")
    market.vo(VO, "manny")
    market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "manny", json={"appliance": "ubuntu"}
    )
    assert market.call("POST", f"/api/v1/vos/{VO}/list/draft/publish", "manny").status_code == 200
    with market.session() as session:
        session.get_one(ApplianceVersion, version_id).expires_at = datetime.now(UTC) - timedelta(
            seconds=1
        )
    listed = market.call("GET", f"/api/v1/vos/{VO}/list").json()
    assert listed["entries"][0]["flag"] == "expired"
    assert listed["obsolete"] is True
    draft = market.call("GET", f"/api/v1/vos/{VO}/list/draft", "manny").json()
    assert draft["obsolete"] is True


def test_gated_vo_list_needs_the_scope(market: Market, server: HttpServer) -> None:
    market.person("manny")
    market.vo("secret.vo", "manny", gated=True)
    market.person("site", scopes=("vo:secret.vo:read",))
    market.person("other")
    _published_version(market, server)
    market.call(
        "POST", "/api/v1/vos/secret.vo/list/draft/entries", "manny", json={"appliance": "ubuntu"}
    )
    market.call("POST", "/api/v1/vos/secret.vo/list/draft/publish", "manny")
    assert market.call("GET", "/api/v1/vos/secret.vo/list").status_code == 401
    assert market.call("GET", "/api/v1/vos/secret.vo/list", "other").status_code == 403
    assert market.call("GET", "/api/v1/vos/secret.vo/list", "site").status_code == 200
    assert market.call("GET", "/api/v1/vos/secret.vo/list", "manny").status_code == 200
