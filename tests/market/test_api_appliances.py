"""The REST API for appliances, members and versions: roles, bad input, duplicates, states.

Every test runs on SQLite and on the real PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.httpserver import HttpServer
from tests.market.support import Market, image_body, snapshot


def _appliance(market: Market, who: str = "ann", slug: str = "ubuntu") -> dict[str, Any]:
    response = market.call(
        "POST", "/api/v1/appliances", who, json={"slug": slug, "title": "Ubuntu LTS"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _version(market: Market, who: str = "ann", slug: str = "ubuntu", name: str = "1.0") -> int:
    response = market.call(
        "POST",
        f"/api/v1/appliances/{slug}/versions",
        who,
        json={"version": name, "expires_in_months": 6},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_create_and_browse_appliance(market: Market) -> None:
    market.person("ann")
    created = _appliance(market)
    assert created["slug"] == "ubuntu"
    assert created["owner"] == market.people["ann"]
    assert len(created["uuid"]) == 36
    listed = market.call("GET", "/api/v1/appliances").json()  # anonymous browse
    assert [a["slug"] for a in listed] == ["ubuntu"]
    one = market.call("GET", "/api/v1/appliances/ubuntu").json()
    assert one["versions"] == []
    assert one["images"] == []
    members = market.call("GET", "/api/v1/appliances/ubuntu/members").json()
    assert members == [
        {"person_id": market.people["ann"], "display_name": "ann", "permission": "owner"}
    ]
    changed = market.call(
        "PATCH", "/api/v1/appliances/ubuntu", "ann", json={"description": "LTS images"}
    )
    assert changed.status_code == 200
    assert changed.json()["description"] == "LTS images"


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"slug": "ok", "title": "t", "colour": "red"}, 422, "invalid_request", "colour"),
        ({"slug": "Bad Slug", "title": "t"}, 422, "invalid_request", "slug"),
        ({"slug": "ok"}, 422, "invalid_request", "title"),
        ({"slug": 5, "title": "t"}, 422, "invalid_request", "slug"),
        ({"slug": "ok", "title": "   "}, 422, "invalid_request", "title"),
        ({"slug": "ok", "title": "a\u0000b"}, 422, "invalid_request", "NUL"),
        ({"slug": "ok", "title": "t", "description": "\u0000"}, 422, "invalid_request", "NUL"),
        (b"{not json", 400, "malformed_json", "JSON"),
        (b"[1, 2]", 422, "invalid_request", "body"),
    ],
)
def test_bad_appliance_bodies_are_refused_and_change_nothing(
    market: Market, body: Any, status: int, code: str, words: str
) -> None:
    market.person("ann")
    before = snapshot(market.engine)
    if isinstance(body, bytes):
        response = market.call(
            "POST",
            "/api/v1/appliances",
            "ann",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    else:
        response = market.call("POST", "/api/v1/appliances", "ann", json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["code"] == code
    assert words in answer["detail"]
    assert "\n" not in answer["detail"]
    assert snapshot(market.engine) == before


def test_duplicate_slug_and_roles(market: Market) -> None:
    market.person("ann")
    market.person("bob")
    market.person("reader", scopes=())
    _appliance(market)
    before = snapshot(market.engine)
    duplicate = market.call(
        "POST", "/api/v1/appliances", "bob", json={"slug": "ubuntu", "title": "x"}
    )
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "conflict")
    anonymous = market.call("POST", "/api/v1/appliances", json={"slug": "other", "title": "x"})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    read_only = market.call(
        "POST", "/api/v1/appliances", "reader", json={"slug": "o", "title": "x"}
    )
    assert read_only.status_code == 403
    assert "market:write" in read_only.json()["detail"]
    stranger = market.call("PATCH", "/api/v1/appliances/ubuntu", "bob", json={"title": "Mine"})
    assert (stranger.status_code, stranger.json()["code"]) == (403, "forbidden")
    version = market.call(
        "POST",
        "/api/v1/appliances/ubuntu/versions",
        "bob",
        json={"version": "1", "expires_in_months": 3},
    )
    assert version.status_code == 403
    missing = market.call("GET", "/api/v1/appliances/nothing")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert snapshot(market.engine) == before


def test_members_owner_only_and_last_owner_stays(market: Market) -> None:
    market.person("ann")
    market.person("bob")
    market.person("cid")
    _appliance(market)
    bob, cid = market.people["bob"], market.people["cid"]
    added = market.call(
        "POST",
        "/api/v1/appliances/ubuntu/members",
        "ann",
        json={"person_id": bob, "permission": "maintainer"},
    )
    assert added.status_code == 201, added.text
    again = market.call("POST", "/api/v1/appliances/ubuntu/members", "ann", json={"person_id": bob})
    assert again.status_code == 409
    # a maintainer edits and makes versions, but does not manage members
    assert (
        market.call("PATCH", "/api/v1/appliances/ubuntu", "bob", json={"title": "T"}).status_code
        == 200
    )
    _version(market, "bob")
    by_maintainer = market.call(
        "POST", "/api/v1/appliances/ubuntu/members", "bob", json={"person_id": cid}
    )
    assert by_maintainer.status_code == 403
    nobody = market.call(
        "POST", "/api/v1/appliances/ubuntu/members", "ann", json={"person_id": 999}
    )
    assert nobody.status_code == 404
    bad_permission = market.call(
        "POST",
        "/api/v1/appliances/ubuntu/members",
        "ann",
        json={"person_id": cid, "permission": "admin"},
    )
    assert bad_permission.status_code == 422
    last = market.call("DELETE", f"/api/v1/appliances/ubuntu/members/{market.people['ann']}", "ann")
    assert (last.status_code, last.json()["code"]) == (409, "illegal_state")
    assert (
        market.call("DELETE", f"/api/v1/appliances/ubuntu/members/{bob}", "ann").status_code == 204
    )
    assert (
        market.call("DELETE", f"/api/v1/appliances/ubuntu/members/{bob}", "ann").status_code == 404
    )


def test_version_expiry_rules(market: Market) -> None:
    market.person("ann")
    _appliance(market)
    before = snapshot(market.engine)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"version": "1"}, "expiry"),
        ({"version": "1", "expires_in_months": 5}, "expires_in_months"),
        ({"version": "1", "expires_at": "2000-01-01T00:00:00Z"}, "past"),
        ({"version": "1", "expires_at": "2999-01-01T00:00:00Z"}, "12 months"),
        ({"version": "1", "expires_at": "2027-01-01T00:00:00"}, "time zone"),
        (
            {"version": "1", "expires_in_months": 3, "expires_at": "2027-01-01T00:00:00Z"},
            "not both",
        ),
        ({"version": "x" * 21, "expires_in_months": 3}, "version"),
        ({"version": "1", "expires_in_months": "six"}, "expires_in_months"),
    ]
    for body, words in cases:
        response = market.call("POST", "/api/v1/appliances/ubuntu/versions", "ann", json=body)
        assert response.status_code == 422, (body, response.text)
        assert words in response.json()["detail"], (body, response.json())
    assert snapshot(market.engine) == before
    _version(market)
    duplicate = market.call(
        "POST",
        "/api/v1/appliances/ubuntu/versions",
        "ann",
        json={"version": "1.0", "expires_in_months": 3},
    )
    assert duplicate.status_code == 409


def test_max_expiry_is_configurable(tmp_path: Any, database_url: str) -> None:
    from tests.market.support import running_market, settings_for

    settings = settings_for(tmp_path, database_url, max_expiry_months=3)
    with running_market(settings) as market:
        market.person("ann")
        _appliance(market)
        too_long = market.call(
            "POST",
            "/api/v1/appliances/ubuntu/versions",
            "ann",
            json={"version": "1", "expires_in_months": 6},
        )
        assert too_long.status_code == 422
        assert "maximum of 3" in too_long.json()["detail"]


def test_images_of_a_version(market: Market, server: HttpServer) -> None:
    market.person("ann")
    _appliance(market)
    version_id = _version(market)
    body = image_body(server.url("/ubuntu.qcow2"))
    added = market.call("POST", f"/api/v1/versions/{version_id}/images", "ann", json=body)
    assert added.status_code == 201, added.text
    instance = added.json()
    assert instance["format"] == "QCOW2"
    assert instance["hypervisors"] == ["KVM"]
    assert instance["integrity_state"] == "pending"
    before = snapshot(market.engine)
    same = market.call("POST", f"/api/v1/versions/{version_id}/images", "ann", json=body)
    assert same.status_code == 409  # one instance per logical image and version
    bad: list[tuple[dict[str, Any], str]] = [
        ({**body, "title": "B", "sha512": "abc"}, "sha512"),
        ({**body, "title": "B", "uri": "file:///etc/passwd"}, "uri"),
        ({**body, "title": "B", "format": "exe"}, "format"),
        ({**body, "title": "B", "hypervisors": []}, "hypervisors"),
        ({**body, "title": "B", "arch": "z80"}, "arch"),
        ({**body, "title": "B", "size": -1}, "size"),
        ({**body, "title": "B", "ram_min": 0}, "ram_min"),
        ({**body, "title": "B", "extra": 1}, "extra"),
        ({k: v for k, v in body.items() if k != "title"}, "title"),
    ]
    for payload, words in bad:
        response = market.call("POST", f"/api/v1/versions/{version_id}/images", "ann", json=payload)
        assert response.status_code == 422, (payload, response.text)
        assert words in response.json()["detail"], response.json()
    assert snapshot(market.engine) == before
    changed = market.call(
        "PATCH",
        f"/api/v1/versions/{version_id}/images/{instance['id']}",
        "ann",
        json={"os_version": "24.04.1"},
    )
    assert changed.status_code == 200
    assert changed.json()["os_version"] == "24.04.1"
    null = market.call(
        "PATCH", f"/api/v1/versions/{version_id}/images/{instance['id']}", "ann", json={"uri": None}
    )
    assert null.status_code == 422
    removed = market.call("DELETE", f"/api/v1/versions/{version_id}/images/{instance['id']}", "ann")
    assert removed.status_code == 204
    gone = market.call("DELETE", f"/api/v1/versions/{version_id}/images/{instance['id']}", "ann")
    assert gone.status_code == 404


def test_unknown_routes_methods_and_oversize_bodies(market: Market) -> None:
    market.person("ann")
    before = snapshot(market.engine)
    assert market.call("GET", "/api/v1/nothing").json()["code"] == "not_found"
    wrong = market.call("PUT", "/api/v1/appliances", "ann", json={})
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    big = market.call(
        "POST",
        "/api/v1/appliances",
        "ann",
        content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert (big.status_code, big.json()["code"]) == (413, "body_too_large")

    def chunks() -> Any:
        for _ in range(6):
            yield b" " * (1024 * 1024)

    streamed = market.call(
        "POST",
        "/api/v1/appliances",
        "ann",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert snapshot(market.engine) == before


def test_service_endpoints(market: Market) -> None:
    assert market.call("GET", "/healthz").json() == {"status": "ok"}
    market.call("GET", "/api/v1/appliances")
    metrics = market.call("GET", "/metrics")
    assert metrics.status_code == 200
    assert "imagelist_market_requests_total" in metrics.text
    schema = market.call("GET", "/openapi.json").json()
    for path in (
        "/api/v1/appliances",
        "/api/v1/appliances/{slug}/versions/import",
        "/api/v1/versions/{version_id}/integrity",
        "/api/v1/vos/{vo}/list/draft/publish",
        "/api/v1/me/tokens",
        "/api/v1/vocab/{name}",
    ):
        assert path in schema["paths"], path
    assert market.call("GET", "/api/v1/vocab/archs").json()[0] == "x86_64"
    assert market.call("GET", "/api/v1/vocab/colours").status_code == 422


def test_ids_beyond_any_row_are_not_found(market: Market) -> None:
    """A number no integer column holds is a 404, not a database error (PostgreSQL)."""
    market.person("ann")
    _appliance(market)
    huge = 10**20
    before = snapshot(market.engine)
    for method, path, body in [
        ("GET", f"/api/v1/versions/{huge}", None),
        ("GET", "/api/v1/appliances/a%00b", None),
        ("GET", "/api/v1/vos/a%00b/list", None),
        ("GET", f"/api/v1/versions/{2**31}/integrity", None),
        ("DELETE", f"/api/v1/appliances/ubuntu/members/{2**40}", None),
        ("DELETE", f"/api/v1/me/tokens/{2**40}", None),
        ("POST", "/api/v1/appliances/ubuntu/members", {"person_id": 2**40}),
    ]:
        response = market.call(method, path, "ann", json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "not_found"
    assert snapshot(market.engine) == before


def test_a_failed_commit_is_never_answered_as_success(postgres_url: str, tmp_path: Any) -> None:
    """A change the database refuses only at COMMIT (a deferred constraint trigger, a
    PostgreSQL feature: this test runs on PostgreSQL only) is an error answer, not a 201 for a
    change that was lost."""
    from tests.subscriber.support import fresh_database_url

    with fresh_database_url("postgresql", tmp_path, postgres_url) as database_url:
        _refused_at_commit(database_url, tmp_path)


def _refused_at_commit(database_url: str, tmp_path: Any) -> None:
    import sqlalchemy as sa

    from tests.market.support import running_market, settings_for

    with running_market(settings_for(tmp_path, database_url)) as market:
        market.person("ann")
        with market.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
                )
            )
            connection.execute(
                sa.text(
                    "CREATE CONSTRAINT TRIGGER late AFTER INSERT ON appliance "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        before = snapshot(market.engine)
        response = market.call(
            "POST", "/api/v1/appliances", "ann", json={"slug": "lost", "title": "Lost"}
        )
        assert response.status_code >= 400, response.text
        assert response.json()["code"] == "database_unavailable"
        assert snapshot(market.engine) == before
        assert market.call("GET", "/api/v1/appliances/lost").status_code == 404
