"""Appliance versions: creation (a clone of the published one), edits, the state machine,
publication and archiving.

States: draft → verifying → verified | failed → published → archived
(:data:`~imagelist.db.market.models.VERSION_TRANSITIONS`). Only draft, verified and failed
versions are edited; a change of images sends a verified or failed version back to draft.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.market.models import VERSION_TRANSITIONS, Appliance, ApplianceVersion, ImageInstance
from ..errors import MarketConflictError, MarketInputError, MarketStateError
from .common import Caller, audit, now, require_member
from .schemas import VersionCreate, VersionUpdate
from .settings import MarketSettings

__all__ = [
    "EDITABLE_STATES",
    "add_months",
    "archive_version",
    "create_version",
    "delete_version",
    "expiry",
    "move",
    "new_instance",
    "publish_version",
    "update_version",
]

#: States in which a version's fields and images may change.
EDITABLE_STATES = frozenset({"draft", "verified", "failed"})
_CLONED = (
    "uri",
    "format",
    "hypervisors",
    "arch",
    "os_family",
    "os_name",
    "os_version",
    "size",
    "sha512",
    "image_version",
    "cores_min",
    "cores_rec",
    "ram_min",
    "ram_rec",
    "comments",
    "autocheck",
)


def add_months(when: datetime, months: int) -> datetime:
    """``when`` plus ``months`` calendar months (the day clipped to the month's last)."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def expiry(
    settings: MarketSettings, months: int | None, at: datetime | None, *, required: bool
) -> datetime | None:
    """The expiry asked for (months from now, or a time), within the market's maximum."""
    if months is not None and at is not None:
        raise MarketInputError("give expires_in_months or expires_at, not both")
    current = now()
    limit = add_months(current, settings.max_expiry_months)
    if months is not None:
        if months > settings.max_expiry_months:
            raise MarketInputError(
                f"expires_in_months {months} is more than the maximum of "
                f"{settings.max_expiry_months}"
            )
        return add_months(current, months)
    if at is None:
        if required:
            raise MarketInputError("a version needs an expiry: expires_in_months or expires_at")
        return None
    if at.tzinfo is None:
        raise MarketInputError("expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    at = at.astimezone(UTC).replace(microsecond=0)
    if at <= current:
        raise MarketInputError(f"expires_at {at:%Y-%m-%dT%H:%M:%SZ} is in the past")
    if at > limit:
        raise MarketInputError(
            f"expires_at {at:%Y-%m-%dT%H:%M:%SZ} is more than "
            f"{settings.max_expiry_months} months ahead"
        )
    return at


def move(version: ApplianceVersion, state: str) -> None:
    """Change ``version``'s state, if the state machine allows it (409 otherwise)."""
    if state not in VERSION_TRANSITIONS[version.state]:
        raise MarketStateError(
            f"version {version.version} is {version.state}: it cannot become {state}"
        )
    version.state = state


def _check_name_free(session: Session, appliance: Appliance, name: str) -> None:
    taken = session.scalars(
        select(ApplianceVersion.id).where(
            ApplianceVersion.appliance_id == appliance.id, ApplianceVersion.version == name
        )
    ).first()
    if taken is not None:
        raise MarketConflictError(f"appliance {appliance.slug!r} already has version {name!r}")


def published_version(session: Session, appliance: Appliance) -> ApplianceVersion | None:
    """The appliance's published version, if any."""
    return session.scalars(
        select(ApplianceVersion).where(
            ApplianceVersion.appliance_id == appliance.id, ApplianceVersion.state == "published"
        )
    ).first()


def create_version(
    session: Session,
    caller: Caller,
    appliance: Appliance,
    spec: VersionCreate,
    settings: MarketSettings,
) -> ApplianceVersion:
    """A new draft version; with ``clone`` it starts with the published version's images."""
    person = require_member(session, caller, appliance)
    expires = expiry(settings, spec.expires_in_months, spec.expires_at, required=True)
    assert expires is not None
    _check_name_free(session, appliance, spec.version)
    version = ApplianceVersion(
        appliance_id=appliance.id,
        version=spec.version,
        uuid=str(uuid.uuid4()),
        notes=spec.notes,
        state="draft",
        expires_at=expires,
        created_at=now(),
        created_by=person,
    )
    session.add(version)
    session.flush()
    source = published_version(session, appliance) if spec.clone else None
    if source is not None:
        for instance in source.instances:
            copied = {key: getattr(instance, key) for key in _CLONED}
            session.add(new_instance(version, instance.image_id, copied))
        session.flush()
    audit(
        session,
        caller,
        "version.create",
        f"version:{version.id}",
        appliance=appliance.slug,
        version=spec.version,
        cloned=None if source is None else source.version,
    )
    return version


def new_instance(version: ApplianceVersion, image_id: int, fields: dict[str, Any]) -> ImageInstance:
    """A new image of ``version`` (logical image ``image_id``), its integrity to be checked."""
    return ImageInstance(
        version_id=version.id,
        image_id=image_id,
        uuid=str(uuid.uuid4()),
        integrity_state="pending",
        **fields,
    )


def require_editable(version: ApplianceVersion) -> None:
    """409 unless the version may be edited."""
    if version.state not in EDITABLE_STATES:
        raise MarketStateError(
            f"version {version.version} is {version.state}: only draft, verified or failed "
            "versions can be changed"
        )


def update_version(
    session: Session,
    caller: Caller,
    version: ApplianceVersion,
    spec: VersionUpdate,
    settings: MarketSettings,
) -> ApplianceVersion:
    """Change a version's name, notes or expiry (its images are unchanged: its state stays)."""
    appliance = version.appliance
    require_member(session, caller, appliance)
    require_editable(version)
    changed: dict[str, Any] = {}
    if spec.version is not None and spec.version != version.version:
        _check_name_free(session, appliance, spec.version)
        version.version = changed["version"] = spec.version
    if spec.notes is not None:
        version.notes = changed["notes"] = spec.notes
    expires = expiry(settings, spec.expires_in_months, spec.expires_at, required=False)
    if expires is not None:
        version.expires_at = expires
        changed["expires_at"] = f"{expires:%Y-%m-%dT%H:%M:%SZ}"
    session.flush()
    audit(session, caller, "version.update", f"version:{version.id}", **changed)
    return version


def delete_version(session: Session, caller: Caller, version: ApplianceVersion) -> None:
    """Delete a version that was never published (and is not being checked)."""
    require_member(session, caller, version.appliance)
    require_editable(version)
    audit(
        session,
        caller,
        "version.delete",
        f"version:{version.id}",
        appliance=version.appliance.slug,
        version=version.version,
    )
    session.delete(version)
    session.flush()


def publish_version(
    session: Session,
    caller: Caller | None,
    version: ApplianceVersion,
    settings: MarketSettings,
    requested_by: int | None = None,
) -> ApplianceVersion:
    """Publish a verified, unexpired version: the previous one is archived, the appliance's
    list is signed (:func:`imagelist.market.publication.publish_appliance`).

    ``caller`` None: the integrity runner publishing after "Verify & Publish" (checked when
    the job was asked for) on behalf of ``requested_by``, the person who asked for the job:
    the version and the audit trail name that person.
    """
    from .publication import publish_appliance

    appliance = version.appliance
    person = None if caller is None else require_member(session, caller, appliance)
    if version.state != "verified":
        raise MarketStateError(
            f"version {version.version} is {version.state}: only a verified version is published"
        )
    bad = [i.id for i in version.instances if i.integrity_state not in ("ok", "skipped")]
    if bad or not version.instances:
        raise MarketStateError(f"version {version.version} has images that did not pass")
    current = now()
    if version.expires_at <= current:
        raise MarketStateError(
            f"version {version.version} expired at {version.expires_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    previous = published_version(session, appliance)
    if previous is not None:
        move(previous, "archived")
        previous.archived_at = current
        session.flush()  # the partial unique index allows one published version at a time
    move(version, "published")
    version.published_at = current
    version.published_by = person if caller is not None else requested_by
    session.flush()
    document = publish_appliance(session, appliance, settings)
    audit(
        session,
        caller or Caller(person_id=requested_by, via="system"),
        "version.publish",
        f"version:{version.id}",
        appliance=appliance.slug,
        version=version.version,
        archived=None if previous is None else previous.version,
        hv_version=document.hv_version,
    )
    return version


def archive_version(session: Session, caller: Caller, version: ApplianceVersion) -> None:
    """Archive the published version: it leaves the VO lists at their next publication, and
    the appliance's list keeps its last publication until another version is published."""
    require_member(session, caller, version.appliance)
    move(version, "archived")
    version.archived_at = now()
    session.flush()
    audit(
        session,
        caller,
        "version.archive",
        f"version:{version.id}",
        appliance=version.appliance.slug,
        version=version.version,
    )
