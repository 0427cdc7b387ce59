"""``vmcatcher_status`` on an empty, a healthy and an unhealthy site (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from imagelist.cli import imagelist_tool
from tests.monitoring.support import status, status_json
from tests.pki import TestPki
from tests.subscriber.support import Site, World, now


def test_empty_site(site: Site) -> None:
    text = status(site)
    assert text.code == 0, text.err
    assert "Subscriptions:\n  (none)" in text.out
    assert "Events: no cache directory" in text.out
    document = status_json(site)
    assert document["subscriptions"] == []
    assert document["status"] == "OK"
    check = status(site, "--check")
    assert (check.code, check.out) == (0, "IMAGELIST OK - 0 subscription(s), 0 image(s)\n")


def test_healthy_site(world: World, test_pki: TestPki) -> None:
    site = world.site
    text = status(site)
    assert text.code == 0, text.err
    for shown in ("Test list", "1.0", "img-a", "pending", "not-subscribed"):
        assert shown in text.out
    assert "Alarms:\n  (none)" in text.out
    document = status_json(site)
    (item,) = document["subscriptions"]
    assert item["title"] == "Test list"
    assert item["version"] == "1.0"
    assert item["last_error"] is None
    assert item["last_exit_code"] == 0
    assert item["last_success"] == item["last_attempt"] != "-"
    expected_expiry = test_pki.good.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert item["signer"]["not_after"] == expected_expiry
    assert item["signer"]["subject"] == test_pki.good.subject_oneline
    path = item["signer"]["path"]
    assert [ca["subject"] for ca in path] == [
        test_pki.intermediate.subject_oneline,
        test_pki.root.subject_oneline,
    ]
    assert path[0]["crl_next_update"] == test_pki.intermediate_crl.next_update_utc.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    states = {image["identifier"]: image["state"] for image in item["images"]}
    assert states == {"img-a": "pending", "img-b": "not-subscribed"}
    assert document["alarms"] == []
    check = status(site, "--check")
    assert (check.code, check.out) == (0, "IMAGELIST OK - 1 subscription(s), 2 image(s)\n")


def test_cache_facts(world: World, tmp_path: Path) -> None:
    """Cached, given-up and event files of the cache directory show up (and alarm)."""
    cache = tmp_path / "cache"
    (cache / "partial").mkdir(parents=True)
    (cache / "cache.index").write_text(json.dumps({"img-a": {"hv:size": 21, "filename": "img-a"}}))
    site = world.site
    document = status_json(site, cache_dir=cache)
    assert document["cache"]["cached"] == {"img-a": 21}
    states = {i["identifier"]: i["state"] for i in document["subscriptions"][0]["images"]}
    assert states["img-a"] == "cached"
    (cache / "cache.index").unlink()
    (msg_hash,) = site.query('select data_hash from "imageListInstance"')[0]
    partial = {"img-a": {"DownLoadTrys": {"count": 5, "msgHash": msg_hash}}}
    (cache / "partial" / "cache.index").write_text(json.dumps(partial))
    event = {"type": "AvailablePostfix", "metadata": {}, "handler": "cmd", "attempts": 5}
    (cache / ".vmcatcher_cache.outbox").write_text(json.dumps([event, event]))
    (cache / ".vmcatcher_cache.dead-letters").write_text(json.dumps([event]))
    document = status_json(site, cache_dir=cache)
    states = {i["identifier"]: i["state"] for i in document["subscriptions"][0]["images"]}
    assert states["img-a"] == "given-up"
    assert document["cache"]["events_pending"] == {"AvailablePostfix": 2}
    assert document["cache"]["events_dead"] == {"AvailablePostfix": 1}
    kinds = {alarm["kind"] for alarm in document["alarms"]}
    assert kinds == {"image", "events"}
    check = status(site, "--check", cache_dir=cache)
    assert check.code == 1
    assert check.out.startswith("IMAGELIST WARNING - 2 problem(s): img-a: download given up")
    # a new list version (another hash) is not given up any more
    partial["img-a"]["DownLoadTrys"]["msgHash"] = "0" * 128
    (cache / "partial" / "cache.index").write_text(json.dumps(partial))
    assert status(site, "--check", cache_dir=cache).code == 1  # the dead letter stays
    document = status_json(site, cache_dir=cache)
    assert document["subscriptions"][0]["images"][0]["state"] == "pending"


@pytest.mark.parametrize(
    ("hours", "code", "level"), [(12, 2, "CRITICAL"), (3 * 24, 1, "WARNING"), (8 * 24, 0, "OK")]
)
def test_list_expiry(sqlite_world: World, hours: int, code: int, level: str) -> None:
    created = now() - timedelta(hours=1)
    sqlite_world.publish(
        sqlite_world.make(version="1.1", created=created, expires=now() + timedelta(hours=hours))
    )
    assert sqlite_world.update().code == 0
    check = status(sqlite_world.site, "--check")
    assert check.code == code, check.out
    assert check.out.startswith(f"IMAGELIST {level} - ")
    if code:
        assert "list expires" in check.out
    assert status_json(sqlite_world.site)["status"] == level


def test_failed_update_is_a_warning(world: World) -> None:
    world.server.put(world.path, b"gone", status=404)
    result = world.update()
    assert result.code == 10
    document = status_json(world.site)
    (item,) = document["subscriptions"]
    assert item["last_exit_code"] == 10
    assert "404" in item["last_error"]
    assert item["last_attempt"] >= item["last_success"]
    (alarm,) = document["alarms"]
    assert (alarm["level"], alarm["kind"]) == ("WARNING", "update")
    check = status(world.site, "--check")
    assert check.code == 1
    assert "last update failed (exit 10)" in check.out
    assert len(check.out.splitlines()) == 1
    # the next success clears the error
    world.publish(world.make(version="1.2"))
    assert world.update().code == 0
    item = status_json(world.site)["subscriptions"][0]
    assert item["last_error"] is None
    assert item["last_success"] == item["last_attempt"]
    assert status(world.site, "--check").code == 0


def test_stale_crl_is_critical(sqlite_world: World, test_pki: TestPki) -> None:
    check = status(sqlite_world.site, "--check", cert_dir=test_pki.stale_crl_dir)
    assert check.code == 2
    assert "CRL next update expired" in check.out
    missing = status(sqlite_world.site, "--check", cert_dir=test_pki.missing_crl_dir)
    assert missing.code == 2
    assert "no CRL for this CA" in missing.out


def test_unknown_when_the_database_is_unreadable(tmp_path: Path, test_pki: TestPki) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    site = Site(f"sqlite:///{broken}", test_pki.trust_dir)
    check = status(site, "--check")
    assert check.code == 3
    assert check.out.startswith("IMAGELIST UNKNOWN - ")
    assert len(check.out.splitlines()) == 1
    assert check.err == ""
    plain = status(site)
    assert plain.code == 36
    assert plain.err.startswith("vmcatcher_status: error: ")
    assert "Traceback" not in plain.err


def test_unknown_when_the_trust_directory_is_missing(sqlite_world: World, tmp_path: Path) -> None:
    check = status(sqlite_world.site, "--check", cert_dir=tmp_path / "nowhere")
    assert check.code == 3
    assert "trust directory" in check.out


def test_usage_errors(sqlite_site: Site) -> None:
    bad = status(sqlite_site, "--check", "--warning-days", "1", "--critical-days", "2")
    assert bad.code == 1
    assert bad.err.startswith("vmcatcher_status: error: thresholds must satisfy")


def test_imagelist_status_delegates(
    sqlite_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    site = sqlite_world.site
    code = imagelist_tool.main(
        ["status", "--check", "-d", site.database, "-c", str(site.trust_dir), "-C", "/nonexistent"]
    )
    assert code == 0
    assert capsys.readouterr().out == "IMAGELIST OK - 1 subscription(s), 2 image(s)\n"
