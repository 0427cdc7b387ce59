"""``imagelist-market resign --due``: re-sign VO-wide lists before they expire (ADR 0020).

A published VO list carries a short ``dc:date:expires`` (``vo_list_expiry_days``, 30 by
default). Run from cron, ``resign --due`` re-publishes every VO list that expires within the
margin (7 days by default): the same entries, a new, higher ``hv:version``, a new expiry. Entries
whose appliance version has since expired or been archived are left out, as on any publication.

Idempotent: a list just re-signed is not due again until the margin is reached. Each VO is its
own transaction, so one failure does not stop the others; the run then exits 88
(MarketPublishError, exit 88). An unusable service certificate stops the run at once (exit 87).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.market.models import Vo, VoList
from ..errors import ImageListError, MarketPublishError, UsageError
from .publication import PublicationSettings, publish_vo_list
from .settings import DEFAULT_MARGIN_DAYS
from .signing import load_service_signer

__all__ = ["DEFAULT_MARGIN_DAYS", "ResignReport", "render", "report_document", "resign_due"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resigned:
    """One VO list re-signed (or not: ``error``)."""

    vo: str
    old_version: str | None
    new_version: str | None
    expires: str | None
    error: str | None = None


@dataclass(frozen=True)
class ResignReport:
    """What one run did."""

    checked: int
    resigned: tuple[Resigned, ...]
    failed: tuple[Resigned, ...]

    @property
    def exit_code(self) -> int:
        return MarketPublishError.exit_code if self.failed else 0


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resign_due(
    sessions: Callable[[], Session],
    settings: Any,
    *,
    margin_days: int = DEFAULT_MARGIN_DAYS,
    now: datetime | None = None,
) -> ResignReport:
    """Re-sign each published VO list expiring before ``now + margin_days``."""
    config = PublicationSettings.of(settings)
    if margin_days < 0 or margin_days >= config.vo_list_days:
        raise UsageError(
            f"--margin-days must be at least 0 and below the VO list lifetime "
            f"({config.vo_list_days} days), not {margin_days}"
        )
    load_service_signer(config.service_cert, config.service_key)  # exit 87 before anything
    limit = (now or datetime.now(UTC)) + timedelta(days=margin_days)
    with sessions() as session:
        rows = session.execute(
            select(Vo.id, Vo.name, VoList.expires_at, VoList.hv_version)
            .join(VoList, VoList.vo_id == Vo.id)
            .where(VoList.state == "published")
            .order_by(Vo.name)
        ).all()
    due = [row for row in rows if (_utc(row.expires_at) or limit) <= limit]
    resigned: list[Resigned] = []
    failed: list[Resigned] = []
    for vo_id, name, _expires, old in due:
        try:
            with sessions() as session, session.begin():
                vo = session.get(Vo, vo_id)
                if vo is None:  # deleted meanwhile
                    continue
                document = publish_vo_list(session, vo, config)
                new, expires = document.hv_version, document.expires_at
            resigned.append(Resigned(name, old, new, _shown(expires)))
            logger.info("VO %s list re-signed: %s -> %s", name, old, new)
        except ImageListError as exc:
            failed.append(Resigned(name, old, None, None, str(exc)))
            logger.info("VO %s list not re-signed: %s", name, exc)  # reported by the caller
    return ResignReport(len(rows), tuple(resigned), tuple(failed))


def _shown(value: datetime | None) -> str | None:
    value = _utc(value)
    return None if value is None else f"{value:%Y-%m-%dT%H:%M:%SZ}"


def report_document(report: ResignReport) -> dict[str, Any]:
    """The ``-f json`` document of a run."""
    return {
        "ok": not report.failed,
        "checked": report.checked,
        "resigned": [asdict(item) for item in report.resigned],
        "failed": [asdict(item) for item in report.failed],
    }


def render(report: ResignReport) -> Sequence[str]:
    """The text lines: one per VO list re-signed or failed, then a summary."""
    lines = [
        f"VO {item.vo}: re-signed, hv:version {item.old_version} -> {item.new_version}, "
        f"expires {item.expires}"
        for item in report.resigned
    ]
    lines += [f"VO {item.vo}: not re-signed: {item.error}" for item in report.failed]
    not_due = report.checked - len(report.resigned) - len(report.failed)
    lines.append(
        f"{len(report.resigned)} VO list(s) re-signed, {len(report.failed)} failed, "
        f"{not_due} not due"
    )
    return lines
