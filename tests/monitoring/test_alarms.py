"""Expiry alarms at each threshold, for a list, a signer certificate and a CRL (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from imagelist.monitoring.alarms import (
    Level,
    Thresholds,
    alarms,
    check_line,
    expiry_level,
    worst,
)
from imagelist.monitoring.status import (
    CaStatus,
    SignerStatus,
    SiteStatus,
    SubscriptionStatusItem,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
FAR = NOW + timedelta(days=365)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)

#: (expiry relative to now, level with the default thresholds 7 d / 1 d)
EDGES = [
    (7 * DAY + MINUTE, Level.OK),
    (7 * DAY - MINUTE, Level.WARNING),
    (DAY + MINUTE, Level.WARNING),
    (DAY - MINUTE, Level.CRITICAL),
    (-MINUTE, Level.CRITICAL),
]


def _site(*, list_expires: datetime = FAR, cert: datetime = FAR, crl: datetime = FAR) -> SiteStatus:
    signer = SignerStatus(
        "/CN=Signer",
        "/CN=CA",
        cert,
        (CaStatus("/CN=CA", FAR, crl),),
    )
    item = SubscriptionStatusItem(
        identifier="sub",
        uri="http://example/list",
        authorised=True,
        title="List",
        version="1",
        list_expires=list_expires,
        list_expired=False,
        last_attempt=NOW,
        last_success=NOW,
        last_error=None,
        last_exit_code=0,
        signer=signer,
    )
    return SiteStatus(NOW, (item,), None)


@pytest.mark.parametrize(("left", "level"), EDGES)
@pytest.mark.parametrize(
    ("field", "kind", "words"),
    [
        ("list_expires", "list", "list expires"),
        ("cert", "certificate", "signer certificate of sub expires"),
        ("crl", "crl", "CRL next update expires"),
    ],
)
def test_thresholds(left: timedelta, level: Level, field: str, kind: str, words: str) -> None:
    site = _site(**{field: NOW + left})
    found = alarms(site, Thresholds())
    if level is Level.OK:
        assert found == []
        assert check_line(site, found) == (Level.OK, "IMAGELIST OK - 1 subscription(s), 0 image(s)")
        return
    (alarm,) = found
    assert (alarm.level, alarm.kind) == (level, kind)
    if left > timedelta(0):
        assert alarm.message.startswith(words)
    else:
        assert "expired" in alarm.message
    code, line = check_line(site, found)
    assert code is level
    assert line.startswith(f"IMAGELIST {level.name} - 1 problem(s): ")


def test_configured_thresholds() -> None:
    limits = Thresholds(warning_days=30, critical_days=10)
    assert expiry_level(NOW + 31 * DAY, NOW, limits) is Level.OK
    assert expiry_level(NOW + 29 * DAY, NOW, limits) is Level.WARNING
    assert expiry_level(NOW + 9 * DAY, NOW, limits) is Level.CRITICAL
    assert expiry_level(NOW + 3 * DAY, NOW, Thresholds(warning_days=2, critical_days=0)) is Level.OK


@pytest.mark.parametrize(("warning", "critical"), [(1, 2), (5, -1)])
def test_inconsistent_thresholds(warning: float, critical: float) -> None:
    with pytest.raises(ValueError, match="thresholds must satisfy"):
        Thresholds(warning_days=warning, critical_days=critical)


def test_worst_level() -> None:
    site = _site(list_expires=NOW + 3 * DAY, crl=NOW + DAY / 2)
    found = alarms(site, Thresholds())
    assert [alarm.level for alarm in found] == [Level.WARNING, Level.CRITICAL]
    assert worst(found) is Level.CRITICAL
    code, line = check_line(site, found)
    assert code is Level.CRITICAL
    assert line.startswith("IMAGELIST CRITICAL - 2 problem(s): /CN=CA: CRL next update expires")
