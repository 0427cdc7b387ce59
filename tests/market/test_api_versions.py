"""Versions through the API: the state machine, integrity jobs (pass, fail, cancel, restart),
publication and archiving, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from imagelist.db.market.models import ApplianceVersion, AuditEvent, IntegrityJob, PublishedDocument
from imagelist.market.settings import MarketSettings
from tests.httpserver import HttpServer
from tests.market.support import Market, image_body, running_market, snapshot

DATA = b"an image of the market tests" * 1000
SHA = hashlib.sha512(DATA).hexdigest()


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _draft(market: Market, server: HttpServer, path: str = "/img", **image: Any) -> int:
    if market.people.get("ann") is None:
        market.person("ann")
        response = market.call(
            "POST", "/api/v1/appliances", "ann", json={"slug": "ubuntu", "title": "Ubuntu"}
        )
        assert response.status_code == 201
    versions = market.call("GET", "/api/v1/appliances/ubuntu/versions").json()
    created = market.call(
        "POST",
        "/api/v1/appliances/ubuntu/versions",
        "ann",
        json={"version": f"1.{len(versions)}", "expires_in_months": 6},
    )
    assert created.status_code == 201, created.text
    version_id = int(created.json()["id"])
    if not created.json()["images"]:
        body = {**image_body(server.url(path), size=len(DATA), sha512=SHA), **image}
        added = market.call("POST", f"/api/v1/versions/{version_id}/images", "ann", json=body)
        assert added.status_code == 201, added.text
    return version_id


def _state(market: Market, version_id: int) -> str:
    return str(market.call("GET", f"/api/v1/versions/{version_id}").json()["state"])


def _job(market: Market, version_id: int) -> dict[str, Any]:
    """The version's integrity job, as the API shows it."""
    job: dict[str, Any] = market.call("GET", f"/api/v1/versions/{version_id}/integrity").json()[
        "job"
    ]
    return job


def _verify(market: Market, version_id: int, **body: Any) -> dict[str, Any]:
    started = market.call("POST", f"/api/v1/versions/{version_id}/integrity", "ann", json=body)
    assert started.status_code == 202, started.text
    wait_for(lambda: _state(market, version_id) != "verifying")
    return dict(market.call("GET", f"/api/v1/versions/{version_id}/integrity").json())


def test_verify_publish_archive(market: Market, server: HttpServer) -> None:
    server.put("/img", DATA)
    version_id = _draft(market, server)
    before = snapshot(market.engine)
    early = market.call("POST", f"/api/v1/versions/{version_id}/publish", "ann")
    assert (early.status_code, early.json()["code"]) == (409, "illegal_state")
    assert "only a verified version" in early.json()["detail"]
    assert snapshot(market.engine) == before
    status = _verify(market, version_id)
    assert status["state"] == "verified"
    assert status["job"]["state"] == "done"
    assert status["job"]["bytes_read"] == len(DATA)
    assert status["images"][0]["integrity_state"] == "ok"
    published = market.call("POST", f"/api/v1/versions/{version_id}/publish", "ann")
    assert published.status_code == 200, published.text
    assert published.json()["state"] == "published"
    listing = market.call("GET", "/store/vappliance/ubuntu/image.list")
    assert listing.status_code == 200
    assert b"application/pkcs7-signature" in listing.content
    # a published version is frozen
    frozen = market.call("PATCH", f"/api/v1/versions/{version_id}", "ann", json={"notes": "x"})
    assert frozen.status_code == 409
    assert market.call("DELETE", f"/api/v1/versions/{version_id}", "ann").status_code == 409
    again = market.call("POST", f"/api/v1/versions/{version_id}/integrity", "ann")
    assert again.status_code == 409
    # the next version clones the images; publishing it archives the first one
    second = _draft(market, server)
    cloned = market.call("GET", f"/api/v1/versions/{second}").json()
    assert len(cloned["images"]) == 1
    assert cloned["images"][0]["integrity_state"] == "pending"
    assert _verify(market, second)["state"] == "verified"
    assert market.call("POST", f"/api/v1/versions/{second}/publish", "ann").status_code == 200
    assert _state(market, version_id) == "archived"
    with market.session() as session:
        documents = session.scalars(
            sa.select(PublishedDocument).where(PublishedDocument.kind == "va")
        ).all()
        versions = [d.hv_version for d in documents]
    assert len(versions) == 2
    assert versions[0] < versions[1]
    archived = market.call("POST", f"/api/v1/versions/{second}/archive", "ann")
    assert archived.json()["state"] == "archived"
    twice = market.call("POST", f"/api/v1/versions/{second}/archive", "ann")
    assert twice.status_code == 409


def test_failed_check_and_edit_back_to_draft(market: Market, server: HttpServer) -> None:
    server.put("/img", DATA[:-1] + b"X")  # same size, other bytes
    version_id = _draft(market, server)
    status = _verify(market, version_id)
    assert status["state"] == "failed"
    assert status["job"]["state"] == "failed"
    assert "sha512" in status["images"][0]["integrity_message"]
    refused = market.call("POST", f"/api/v1/versions/{version_id}/publish", "ann")
    assert refused.status_code == 409
    server.put("/img", DATA)
    image_id = status["images"][0]["id"]
    changed = market.call(
        "PATCH",
        f"/api/v1/versions/{version_id}/images/{image_id}",
        "ann",
        json={"comments": "fixed"},
    )
    assert changed.status_code == 200
    assert _state(market, version_id) == "draft"
    assert _verify(market, version_id)["state"] == "verified"


def test_a_malformed_image_url_fails_that_image_not_the_job(
    market: Market, server: HttpServer
) -> None:
    """The schema lets ``http://[::1/img`` through; its check fails with the reason and the job
    ends at once with the other image checked (it must not hang until the lease runs out)."""
    server.put("/img", DATA)
    version_id = _draft(market, server)
    bad = image_body("http://[::1/img", title="Bad", size=len(DATA), sha512=SHA)
    added = market.call("POST", f"/api/v1/versions/{version_id}/images", "ann", json=bad)
    assert added.status_code == 201, added.text
    status = _verify(market, version_id)
    assert status["state"] == "failed"
    assert status["job"]["state"] == "failed"
    states = {i["uri"]: (i["integrity_state"], i["integrity_message"]) for i in status["images"]}
    assert states[server.url("/img")][0] == "ok"
    state, message = states["http://[::1/img"]
    assert state == "failed"
    assert "not a valid URL" in message
    assert "\n" not in message


def test_verify_and_publish_in_one_go(market: Market, server: HttpServer) -> None:
    server.put("/img", DATA)
    version_id = _draft(market, server)
    _verify(market, version_id, publish=True)
    wait_for(lambda: _state(market, version_id) == "published")
    with market.session() as session:
        actors = session.execute(
            sa.select(AuditEvent.action, AuditEvent.actor).order_by(AuditEvent.id)
        ).all()
    person = f"person:{market.people['ann']}"
    assert ("integrity.start", person) in actors
    # the runner publishes on behalf of the person who asked for "Verify & Publish"
    assert actors[-1] == ("version.publish", person)
    with market.session() as session:
        version = session.get_one(ApplianceVersion, version_id)
        assert version.published_by == market.people["ann"]


def test_cancel_a_running_check(market: Market, server: HttpServer) -> None:
    server.put("/img", DATA, stall_after=100, stall_for=60)
    version_id = _draft(market, server)
    started = market.call("POST", f"/api/v1/versions/{version_id}/integrity", "ann")
    assert started.status_code == 202
    wait_for(
        lambda: (
            market.call("GET", f"/api/v1/versions/{version_id}/integrity").json()["job"]["state"]
            == "running"
        )
    )
    market.person("bob")
    stranger = market.call("DELETE", f"/api/v1/versions/{version_id}/integrity", "bob")
    assert stranger.status_code == 403
    cancelled = market.call("DELETE", f"/api/v1/versions/{version_id}/integrity", "ann")
    assert cancelled.status_code == 200
    wait_for(lambda: _state(market, version_id) == "draft", timeout=10)
    job = market.call("GET", f"/api/v1/versions/{version_id}/integrity").json()["job"]
    assert job["state"] == "cancelled"
    nothing = market.call("DELETE", f"/api/v1/versions/{version_id}/integrity", "ann")
    assert (nothing.status_code, nothing.json()["code"]) == (409, "integrity_failed")


def test_empty_version_cannot_be_checked(market: Market, server: HttpServer) -> None:
    market.person("ann")
    market.call("POST", "/api/v1/appliances", "ann", json={"slug": "ubuntu", "title": "U"})
    created = market.call(
        "POST",
        "/api/v1/appliances/ubuntu/versions",
        "ann",
        json={"version": "1", "expires_in_months": 3},
    ).json()
    before = snapshot(market.engine)
    refused = market.call("POST", f"/api/v1/versions/{created['id']}/integrity", "ann")
    assert refused.status_code == 409
    assert "no images" in refused.json()["detail"]
    assert snapshot(market.engine) == before
    deleted = market.call("DELETE", f"/api/v1/versions/{created['id']}", "ann")
    assert deleted.status_code == 204


def test_restart_requeues_and_fails_abandoned_jobs(
    tmp_path: Path, database_url: str, server: HttpServer
) -> None:
    """A stop puts a running job back in the queue and the restart runs it; a job left
    'running' by a dead process is failed with the reason once its lease is over."""
    server.put("/img", DATA, stall_after=100, stall_for=3, faults=1)  # slow once, then fine
    settings = MarketSettings.embedded(
        tmp_path / "m", database_url=database_url, integrity_lease_seconds=1.0
    )
    with running_market(settings) as market:
        version_id = _draft(market, server)
        market.call("POST", f"/api/v1/versions/{version_id}/integrity", "ann")
        wait_for(lambda: _job(market, version_id)["state"] == "running")
        tokens, people = market.tokens, market.people
    # stopped while running: back in the queue
    with running_market(settings) as market:
        market.tokens, market.people = tokens, people
        status = wait_for(
            lambda: (
                market.call("GET", f"/api/v1/versions/{version_id}/integrity").json()
                if _state(market, version_id) == "verified"
                else None
            )
        )
        assert status["job"]["state"] == "done"
        # a dead worker's job: running, heartbeat long ago
        second = _draft(market, server)
        with market.session() as session:
            version = session.get_one(ApplianceVersion, second)
            version.state = "verifying"
            long_ago = datetime.now(UTC) - timedelta(minutes=5)
            session.add(
                IntegrityJob(
                    version_id=second,
                    state="running",
                    created=long_ago,
                    started=long_ago,
                    heartbeat=long_ago,
                    worker="gone.example:4242",
                )
            )
        wait_for(lambda: _state(market, second) == "failed")
        job = market.call("GET", f"/api/v1/versions/{second}/integrity").json()["job"]
        assert job["state"] == "failed"
        assert "the service stopped while the job was running" in job["error"]
        assert "gone.example:4242" in job["error"]


def test_a_second_worker_never_takes_a_live_job(
    tmp_path: Path, database_url: str, server: HttpServer
) -> None:
    """With several workers, each one fails the jobs whose heartbeat is older than the lease.
    A job that is running must keep its heartbeat well inside the lease, however short: a
    check slower than the lease is not "abandoned" (the heartbeat was refreshed only once a
    second, so a 1 s lease let another worker fail a live job, which then ended "done" beside
    a failed version)."""
    from imagelist.market.jobs import recover_jobs

    server.put("/img", DATA, rate=len(DATA) // 3)  # about 3 s: longer than the lease
    settings = MarketSettings.embedded(
        tmp_path / "m", database_url=database_url, integrity_lease_seconds=1.0
    )
    with running_market(settings) as market:
        version_id = _draft(market, server)
        market.call("POST", f"/api/v1/versions/{version_id}/integrity", "ann")
        recovered = 0
        while _state(market, version_id) == "verifying":  # the other worker, polling
            recovered += recover_jobs(market.engine, settings.integrity_lease_seconds)
            time.sleep(0.05)
        assert recovered == 0
        assert _state(market, version_id) == "verified"
        job = market.call("GET", f"/api/v1/versions/{version_id}/integrity").json()["job"]
        assert job["state"] == "done"


def test_a_job_taken_over_is_not_finished_by_its_old_worker(
    tmp_path: Path, database_url: str, server: HttpServer
) -> None:
    """Once another worker has failed a job (its lease ran out), the worker that was running
    it does not write its result over that: the job stays failed with the reason, like its
    version."""
    from imagelist.market.jobs import recover_jobs

    server.put("/img", DATA, stall_after=100, stall_for=2, faults=1)
    settings = MarketSettings.embedded(tmp_path / "m", database_url=database_url)
    with running_market(settings) as market:
        version_id = _draft(market, server)
        market.call("POST", f"/api/v1/versions/{version_id}/integrity", "ann")
        wait_for(lambda: _job(market, version_id)["state"] == "running")
        assert recover_jobs(market.engine, -60.0) == 1  # as if its heartbeat were a minute old
        time.sleep(3)  # the old worker's check ends meanwhile
        job = market.call("GET", f"/api/v1/versions/{version_id}/integrity").json()["job"]
        assert job["state"] == "failed"
        assert "the service stopped while the job was running" in job["error"]
        assert _state(market, version_id) == "failed"
