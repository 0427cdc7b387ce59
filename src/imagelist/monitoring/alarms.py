"""Expiry alarms and the ``--check`` verdict (pure: a model and a clock in, verdicts out).

A list, a signer certificate or a CRL whose expiry (list ``expires``, certificate
``notAfter``, CRL ``nextUpdate``) is within ``critical_days`` of now, or past, is CRITICAL;
within ``warning_days`` it is a WARNING (defaults 7 and 1 days). Besides expiries, a
subscription whose last update failed, an image given up and a dead-lettered event are
WARNINGs, and a CA without a CRL is CRITICAL (updates fail under the default CRL policy).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the thresholds' defaults need no database (--help)
    from .status import SiteStatus

__all__ = [
    "DEFAULT_CRITICAL_DAYS",
    "DEFAULT_WARNING_DAYS",
    "Alarm",
    "Level",
    "Thresholds",
    "alarms",
    "check_line",
    "expiry_level",
    "worst",
]

DEFAULT_WARNING_DAYS = 7.0
DEFAULT_CRITICAL_DAYS = 1.0


class Level(enum.IntEnum):
    """Nagios/Icinga plugin states, which are also ``--check``'s exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class Thresholds:
    """How close an expiry may come before it is a warning, then critical."""

    warning_days: float = DEFAULT_WARNING_DAYS
    critical_days: float = DEFAULT_CRITICAL_DAYS

    def __post_init__(self) -> None:
        if self.critical_days < 0 or self.warning_days < self.critical_days:
            raise ValueError(
                f"thresholds must satisfy 0 <= critical days ({self.critical_days:g}) <= "
                f"warning days ({self.warning_days:g})"
            )


@dataclass(frozen=True)
class Alarm:
    """One item that is not OK: what, its level, and why."""

    level: Level
    kind: str  # list, certificate, crl, update, image, events
    subject: str
    message: str


def expiry_level(expires: datetime, now: datetime, thresholds: Thresholds) -> Level:
    """CRITICAL within ``critical_days`` (or past), WARNING within ``warning_days``, else OK."""
    left = expires - now
    if left <= timedelta(days=thresholds.critical_days):
        return Level.CRITICAL
    if left <= timedelta(days=thresholds.warning_days):
        return Level.WARNING
    return Level.OK


def _left(expires: datetime, now: datetime) -> str:
    seconds = (expires - now).total_seconds()
    if seconds <= 0:
        return f"expired {expires:%Y-%m-%dT%H:%M:%SZ}"
    return f"expires {expires:%Y-%m-%dT%H:%M:%SZ} (in {seconds / 86400:.1f} days)"


def _expiry(
    kind: str, subject: str, what: str, expires: datetime, now: datetime, thresholds: Thresholds
) -> list[Alarm]:
    level = expiry_level(expires, now, thresholds)
    if level is Level.OK:
        return []
    return [Alarm(level, kind, subject, f"{what} {_left(expires, now)}")]


def alarms(status: SiteStatus, thresholds: Thresholds) -> list[Alarm]:
    """Every item of the site that is not OK, in the order of the status."""
    now = status.now
    found: list[Alarm] = []
    if status.trust_problem is not None:
        found.append(Alarm(Level.UNKNOWN, "trust", "trust store", status.trust_problem))
    crls_seen: set[str] = set()
    for item in status.subscriptions:
        name = item.identifier
        if item.last_error:
            code = f" (exit {item.last_exit_code})" if item.last_exit_code is not None else ""
            found.append(
                Alarm(Level.WARNING, "update", name, f"last update failed{code}: {item.last_error}")
            )
        if item.list_expires is None:
            found.append(Alarm(Level.WARNING, "list", name, "no list accepted yet"))
        else:
            found += _expiry("list", name, "list", item.list_expires, now, thresholds)
        signer = item.signer
        if signer is not None:
            found += _expiry(
                "certificate",
                signer.subject,
                f"signer certificate of {name}",
                signer.not_after,
                now,
                thresholds,
            )
            for ca in signer.path:
                if ca.subject in crls_seen:
                    continue
                crls_seen.add(ca.subject)
                if ca.crl_next_update is None:
                    found.append(Alarm(Level.CRITICAL, "crl", ca.subject, "no CRL for this CA"))
                else:
                    found += _expiry(
                        "crl", ca.subject, "CRL next update", ca.crl_next_update, now, thresholds
                    )
            if signer.problem is not None:
                found.append(Alarm(Level.WARNING, "certificate", signer.subject, signer.problem))
        for image in item.images:
            if image.state == "given-up":
                found.append(Alarm(Level.WARNING, "image", image.identifier, "download given up"))
    if status.cache is not None and status.cache.events_dead:
        count = sum(status.cache.events_dead.values())
        found.append(Alarm(Level.WARNING, "events", "dead letters", f"{count} dead-lettered"))
    return found


def worst(found: list[Alarm]) -> Level:
    """The worst level (UNKNOWN counts as worse than WARNING, not than CRITICAL)."""
    levels = {alarm.level for alarm in found}
    for level in (Level.CRITICAL, Level.UNKNOWN, Level.WARNING):
        if level in levels:
            return level
    return Level.OK


def check_line(status: SiteStatus, found: list[Alarm]) -> tuple[Level, str]:
    """The plugin's exit code and its one summary line."""
    level = worst(found)
    images = sum(len(item.images) for item in status.subscriptions)
    summary = f"{len(status.subscriptions)} subscription(s), {images} image(s)"
    if not found:
        return level, f"IMAGELIST {level.name} - {summary}"
    shown = [alarm for alarm in found if alarm.level is level] or found
    details = "; ".join(f"{alarm.subject}: {alarm.message}" for alarm in shown[:3])
    more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
    return level, f"IMAGELIST {level.name} - {len(found)} problem(s): {details}{more}"
