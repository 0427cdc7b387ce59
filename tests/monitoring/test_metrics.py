"""The Prometheus textfile after ``-U`` and after cache runs, parsed back with prometheus_client."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from imagelist.cli import vmcatcher_cache
from tests.cache.support import CacheSite, build_cache_site, image_bytes
from tests.httpserver import HttpServer
from tests.monitoring.support import status
from tests.pki import TestPki
from tests.subscriber.support import Site, World, make_image, now

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(path: Path) -> Samples:
    """Every sample of the file: (name, sorted labels) → value."""
    found: Samples = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(f"vmcatcher_{name}", tuple(sorted(labels.items())))]


def test_update_writes_the_metrics(world: World, tmp_path: Path, test_pki: TestPki) -> None:
    prom = tmp_path / "vmcatcher.prom"
    result = world.update("--metrics-textfile", str(prom))
    assert result.code == 0, result.err
    found = samples(prom)
    sub = world.site.query("select identifier from subscription")[0][0]
    started = now().timestamp()
    assert value(found, "subscription_up", subscription=sub) == 1.0
    success = value(found, "subscription_last_success_timestamp_seconds", subscription=sub)
    attempt = value(found, "subscription_last_attempt_timestamp_seconds", subscription=sub)
    assert success == attempt
    assert abs(attempt - started) < 120
    (expires,) = world.site.query('select expires from "imageListInstance"')[0]
    expiry = value(found, "subscription_list_expiry_timestamp_seconds", subscription=sub)
    stored = datetime.fromisoformat(str(expires)).replace(tzinfo=UTC)  # naive UTC on both
    assert abs(expiry - stored.timestamp()) < 1
    cert = value(
        found,
        "signer_certificate_expiry_timestamp_seconds",
        subscription=sub,
        subject=test_pki.good.subject_oneline,
    )
    assert cert == test_pki.good.cert.not_valid_after_utc.timestamp()
    crl = value(
        found, "crl_next_update_timestamp_seconds", ca=test_pki.intermediate.subject_oneline
    )
    assert crl == test_pki.intermediate_crl.next_update_utc.timestamp()
    assert value(found, "run_exit_code", command="vmcatcher_subscribe") == 0.0
    assert value(found, "run_duration_seconds", command="vmcatcher_subscribe") > 0
    assert not any(name == "vmcatcher_expiry_alarm" for name, _ in found)
    assert oct(prom.stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    # a failed update: up 0, exit code 10, the last success stays
    world.server.put(world.path, b"gone", status=404)
    assert world.update("--metrics-textfile", str(prom)).code == 10
    found = samples(prom)
    assert value(found, "subscription_up", subscription=sub) == 0.0
    assert value(found, "run_exit_code", command="vmcatcher_subscribe") == 10.0
    assert value(found, "subscription_last_success_timestamp_seconds", subscription=sub) == success


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_handler_failures_count_across_updates(sqlite_world: World, tmp_path: Path) -> None:
    prom = tmp_path / "vmcatcher.prom"
    world = sqlite_world
    sub = world.site.query("select identifier from subscription")[0][0]
    assert world.site.subscribe("--imagelist-newimage-accept", "-u", sub).code == 0
    for round_, new in enumerate(("img-c", "img-d"), start=1):
        images = (*world.images, make_image(new))
        world.images = images
        world.publish(world.make(version=f"1.{round_}", images=images))
        result = world.update("-x", "false", "--metrics-textfile", str(prom))
        assert result.code == 0, (result.out, result.err)
        found = samples(prom)
        failures = value(found, "handler_failures_total", event="SubscriptionImageNew")
        assert failures == float(round_)


@pytest.mark.parametrize("hours", [3 * 24, 12])
def test_expiry_is_logged_by_update_and_cache(
    sqlite_world: World, tmp_path: Path, hours: int, caplog: pytest.LogCaptureFixture
) -> None:
    world = sqlite_world
    world.publish(world.make(version="1.1", expires=now() + timedelta(hours=hours)))
    level = "critical" if hours < 24 else "warning"
    sub = world.site.query("select identifier from subscription")[0][0]
    expected = f"expiry {level}: {sub}: list expires"
    caplog.clear()
    assert world.update().code == 0
    assert [r.levelname for r in caplog.records if expected in r.getMessage()] == ["WARNING"]
    caplog.clear()
    assert world.update("--warning-days", "0.1", "--critical-days", "0.1").code == 0
    assert "expiry" not in caplog.text
    assert world.site.image("-r", "-u", "img-a").code == 0  # nothing to download
    caplog.clear()
    cached = vmcatcher_cache.main(
        ["-d", world.site.database, "-C", str(tmp_path / "cache"), "-c", str(world.site.trust_dir)]
    )
    assert cached == 0
    assert [r.levelname for r in caplog.records if expected in r.getMessage()] == ["WARNING"]
    prom = tmp_path / "m.prom"
    assert world.update("--metrics-textfile", str(prom)).code == 0
    code = 2.0 if hours < 24 else 1.0
    assert value(samples(prom), "expiry_alarm", kind="list", subject=sub) == code


def test_cache_counters_increase_across_runs(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki, tmp_path: Path
) -> None:
    site: CacheSite = build_cache_site(
        sqlite_site, server, test_pki.good, tmp_path, {"img-a": 3000, "img-b": 500}
    )
    prom = tmp_path / "cache.prom"
    first = site.cache("--metrics-textfile", str(prom))
    assert first.code == 0, first.err
    found = samples(prom)
    assert value(found, "downloads_total", result="ok") == 2.0
    assert value(found, "downloads_total", result="failed") == 0.0
    assert value(found, "download_bytes_total") == 3500.0
    assert value(found, "cache_images", state="cached") == 2.0
    assert value(found, "cache_image_bytes", state="cached") == 3500.0
    assert value(found, "events_pending", event="AvailablePostfix") == 0.0
    assert value(found, "run_exit_code", command="vmcatcher_cache") == 0.0
    sub = site.site.query("select identifier from subscription")[0][0]
    assert value(found, "subscription_up", subscription=sub) == 1.0

    # a new image that downloads, one whose server fails: counters grow, the run exits 40
    content = image_bytes("img-c", 700)
    site.serve("img-c", content)
    site.describe("img-c", content)
    site.describe("img-d", image_bytes("img-d", 100), uri=server.url("/images/missing"))
    site.publish("2.0", update=False)
    accepted = site.site.subscribe("--imagelist-newimage-accept", "-u", sub)
    assert accepted.code == 0, accepted.out
    for identifier in ("img-c", "img-d"):
        assert site.site.image("-a", "-u", identifier).code == 0
    second = site.cache("--metrics-textfile", str(prom), "--retries", "0")
    assert second.code == 40, second.err
    found = samples(prom)
    assert value(found, "downloads_total", result="ok") == 3.0
    assert value(found, "downloads_total", result="failed") == 1.0
    assert value(found, "download_bytes_total") == 4200.0
    assert value(found, "cache_images", state="cached") == 3.0
    assert value(found, "cache_images", state="pending") == 1.0
    assert value(found, "run_exit_code", command="vmcatcher_cache") == 40.0

    # a handler that fails: failures by event, events pending; -U keeps the cache's samples
    third = site.cache("--metrics-textfile", str(prom), "-E", "-x", "false")
    found = samples(prom)
    assert third.code in (40, 41), third.err
    update = site.world.update("--metrics-textfile", str(prom))
    assert update.code == 0
    after = samples(prom)
    assert value(after, "downloads_total", result="ok") == 3.0
    assert value(after, "run_exit_code", command="vmcatcher_cache") == third.code
    assert value(after, "run_exit_code", command="vmcatcher_subscribe") == 0.0


def test_metrics_textfile_usage(sqlite_world: World, tmp_path: Path) -> None:
    bad = sqlite_world.update("--metrics-textfile", str(tmp_path / "metrics.txt"))
    assert bad.code == 1
    assert "must end in .prom" in bad.err
    missing = sqlite_world.update("--metrics-textfile", str(tmp_path / "no" / "m.prom"))
    assert missing.code == 1
    assert "does not exist" in missing.err
    cache = vmcatcher_cache.main(
        ["-d", sqlite_world.site.database, "--metrics-textfile", str(tmp_path / "m.txt")]
    )
    assert cache == 1


def test_environment_and_no_link_followed(
    sqlite_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    prom = tmp_path / "m.prom"
    prom.symlink_to(victim)
    monkeypatch.setenv("IMAGELIST_METRICS_TEXTFILE", str(prom))
    assert sqlite_world.update().code == 0
    assert victim.read_text() == "keep"
    assert not prom.is_symlink()
    assert "vmcatcher_subscription_up" in prom.read_text()


def test_site_config_monitoring_section(
    sqlite_world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``[monitoring]`` of the site file: below the options, above the defaults."""
    prom = tmp_path / "site.prom"
    config = tmp_path / "vmcatcher.toml"
    config.write_text(
        f'[monitoring]\nmetrics_textfile = "{prom}"\nwarning_days = 29\ncritical_days = 2\n'
    )
    caplog.clear()
    assert sqlite_world.update("--config", str(config)).code == 0  # the list expires in 28 days
    sub = sqlite_world.site.query("select identifier from subscription")[0][0]
    assert f"expiry warning: {sub}: list expires" in caplog.text
    assert value(samples(prom), "expiry_alarm", kind="list", subject=sub) == 1.0
    site = sqlite_world.site
    check = status(site, "--check", "--config", str(config))
    assert check.code == 1, check.out
    assert check.out.startswith(f"IMAGELIST WARNING - 1 problem(s): {sub}: list expires")
    assert status(site, "--check", "--config", str(config), "--warning-days", "7").code == 0
