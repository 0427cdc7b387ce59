"""``imagelist-market notify``: the notification mails that are due, each sent once (ADR 0025).

What is due (``now`` in UTC; a mail is about one thing, to one person):

* to the owners and maintainers of an appliance whose **published** version expires: once
  ``notify_days_before`` (5) days before (``version-expiring``), once on the day
  (``version-expires-today``) and once after it (``version-expired``). A stage that was missed
  (no run that day) is not sent late; only the current stage is.
* to the managers, deputies and experts of a VO whose **published** list holds a version that
  is archived or expired (``vo-obsolete``), or an older version of an appliance that has a newer
  published one (``vo-update``, "update available").

Exactly once: before sending, a row (kind, subject, person) is inserted in ``sent_notification``
and committed; the unique key makes a second run, or a concurrent one, skip it. When the SMTP
server refuses the mail the row is deleted, so the next run tries again; if the process dies
between the claim and the answer, ``sent_at`` stays empty and the mail is not re-sent (at most
once: a duplicate is worse than a gap that the log shows).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ...db.market.models import (
    Appliance,
    ApplianceMember,
    ApplianceVersion,
    Person,
    SentNotification,
    Vo,
    VoList,
    VoRole,
)
from ..common import now as current_time
from ..settings import MarketSettings
from ..volists import entry_flag
from .mail import MailSender, compose
from .settings import WebSettings

__all__ = ["Notification", "NotifyReport", "due_notifications", "send_due"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    kind: str
    subject: str  # what it is about, the claim key with kind and person
    person_id: int
    address: str
    title: str
    body: str


@dataclass
class NotifyReport:
    sent: list[Notification] = field(default_factory=list)
    skipped: int = 0  # already claimed by an earlier (or concurrent) run
    failed: list[tuple[Notification, str]] = field(default_factory=list)
    no_address: int = 0


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _expiry_stage(expires: datetime, now: datetime, days_before: int) -> str | None:
    expires = _utc(expires)
    if now.date() > expires.date():
        return "version-expired"
    if now.date() == expires.date():
        return "version-expires-today"
    if now >= expires - timedelta(days=days_before):
        return "version-expiring"
    return None


def _owners(appliance: Appliance) -> list[Person]:
    people = {appliance.owner_id: appliance.owner}
    for member in appliance.members:
        people.setdefault(member.person_id, member.person)
    return [people[key] for key in sorted(people)]


def _vo_people(session: Session, vo: Vo) -> list[Person]:
    return list(
        session.scalars(
            select(Person)
            .join(VoRole, VoRole.person_id == Person.id)
            .where(VoRole.vo_id == vo.id)
            .distinct()
            .order_by(Person.id)
        )
    )


def _to(people: Iterable[Person], report: NotifyReport) -> Iterable[Person]:
    for person in people:
        if person.email:
            yield person
        else:
            report.no_address += 1
            log.info("person %s (%s) has no mail address", person.id, person.display_name)


def due_notifications(
    session: Session,
    settings: MarketSettings,
    web_settings: WebSettings,
    now: datetime,
    report: NotifyReport | None = None,
) -> list[Notification]:
    """Every notification due at ``now`` (claimed or not)."""
    report = report if report is not None else NotifyReport()
    base = settings.public_base_url
    found: list[Notification] = []
    versions = session.scalars(
        select(ApplianceVersion)
        .where(ApplianceVersion.state == "published")
        .options(
            selectinload(ApplianceVersion.appliance)
            .selectinload(Appliance.members)
            .selectinload(ApplianceMember.person),
            selectinload(ApplianceVersion.appliance).selectinload(Appliance.owner),
        )
        .order_by(ApplianceVersion.id)
    ).all()
    for version in versions:
        stage = _expiry_stage(version.expires_at, now, web_settings.notify_days_before)
        if stage is None:
            continue
        appliance = version.appliance
        when = _utc(version.expires_at).strftime("%Y-%m-%d %H:%M UTC")
        words = {
            "version-expiring": f"expires on {when}",
            "version-expires-today": f"expires today, {when}",
            "version-expired": f"expired on {when}",
        }[stage]
        link = f"{base}/appliances/{appliance.slug}"
        for person in _to(_owners(appliance), report):
            found.append(
                Notification(
                    kind=stage,
                    subject=f"version:{version.id}",
                    person_id=person.id,
                    address=str(person.email),
                    title=f"[imagelist market] {appliance.title} {version.version} {words}",
                    body=(
                        f"Hello {person.display_name},\n\n"
                        f"version {version.version} of the appliance {appliance.title} {words}.\n"
                        "Sites stop using its images when it expires. Publish a new version:\n\n"
                        f"  {link}\n"
                    ),
                )
            )
    lists = session.scalars(
        select(VoList).where(VoList.state == "published").order_by(VoList.vo_id)
    ).all()
    for vo_list in lists:
        vo = vo_list.vo
        link = f"{base}/vos/{vo.name}"
        managers = list(_to(_vo_people(session, vo), report))
        for entry in vo_list.entries:
            version = entry.version
            appliance = version.appliance
            flag = entry_flag(version, now)  # the market's own rule for obsolete entries
            reason = {"archived": "is archived", "expired": "has expired"}.get(flag or "")
            if reason is not None:
                for person in managers:
                    found.append(
                        Notification(
                            kind="vo-obsolete",
                            subject=f"vo:{vo.id}:version:{version.id}",
                            person_id=person.id,
                            address=str(person.email),
                            title=f"[imagelist market] {vo.name}: {appliance.title} "
                            f"{version.version} {reason}",
                            body=(
                                f"Hello {person.display_name},\n\n"
                                f"the published image list of the VO {vo.name} holds version "
                                f"{version.version} of {appliance.title}, which {reason}.\n"
                                "Update or remove it, then publish the list:\n\n"
                                f"  {link}\n"
                            ),
                        )
                    )
            newer = session.scalars(
                select(ApplianceVersion).where(
                    ApplianceVersion.appliance_id == appliance.id,
                    ApplianceVersion.state == "published",
                    ApplianceVersion.id != version.id,
                )
            ).first()
            if newer is None:
                continue
            for person in managers:
                found.append(
                    Notification(
                        kind="vo-update",
                        subject=f"vo:{vo.id}:version:{newer.id}",
                        person_id=person.id,
                        address=str(person.email),
                        title=f"[imagelist market] {vo.name}: update available for "
                        f"{appliance.title} ({version.version} -> {newer.version})",
                        body=(
                            f"Hello {person.display_name},\n\n"
                            f"version {newer.version} of {appliance.title} is published; the "
                            f"image list of the VO {vo.name} holds {version.version}.\n"
                            "Update it to the latest and publish the list:\n\n"
                            f"  {link}\n"
                        ),
                    )
                )
    return found


def _claim(sessions: sessionmaker[Session], note: Notification, now: datetime) -> int | None:
    """Insert the claim row and commit; None when it exists already."""
    with sessions() as session:
        row = SentNotification(
            kind=note.kind,
            subject=note.subject,
            person_id=note.person_id,
            address=note.address,
            claimed_at=now,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None
        return row.id


def send_due(
    sessions: sessionmaker[Session],
    settings: MarketSettings,
    web_settings: WebSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> NotifyReport:
    """Send every due notification not sent before; see the module docstring."""
    at = (now or datetime.now(UTC)).replace(microsecond=0)
    report = NotifyReport()
    with sessions() as session:
        due = due_notifications(session, settings, web_settings, at, report)
        claimed = {
            (row.kind, row.subject, row.person_id)
            for row in session.scalars(select(SentNotification))
        }
    pending = [n for n in due if (n.kind, n.subject, n.person_id) not in claimed]
    report.skipped = len(due) - len(pending)
    if dry_run or not pending:
        report.sent = pending if dry_run else []
        return report
    with MailSender(web_settings) as sender:
        for note in pending:
            claim = _claim(sessions, note, at)
            if claim is None:
                report.skipped += 1
                continue
            try:
                sender.send(compose(web_settings.smtp_from, note.address, note.title, note.body))
            except (OSError, smtplib.SMTPException, ValueError) as exc:  # ValueError: a header
                # with a line end (a stored address): this mail fails, the others go on
                with sessions() as session:
                    session.execute(delete(SentNotification).where(SentNotification.id == claim))
                    session.commit()
                report.failed.append((note, str(exc) or type(exc).__name__))
                log.warning("mail to %r (%s) failed: %s", note.address, note.kind, exc)
                continue
            with sessions() as session:
                row = session.get(SentNotification, claim)
                if row is not None:
                    row.sent_at = current_time()
                    session.commit()
            report.sent.append(note)
    return report
