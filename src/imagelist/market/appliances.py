"""Appliances (VAs) and their members: the library functions behind ``/api/v1/appliances``."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.market.models import Appliance, ApplianceMember
from ..errors import MarketConflictError, MarketNotFoundError, MarketStateError
from .common import Caller, audit, check_id, get_person, now, require_member
from .schemas import ApplianceCreate, ApplianceUpdate, MemberAdd

__all__ = [
    "add_member",
    "create_appliance",
    "list_appliances",
    "list_members",
    "remove_member",
    "update_appliance",
]


def create_appliance(session: Session, caller: Caller, spec: ApplianceCreate) -> Appliance:
    """A new appliance; the caller becomes its owner."""
    person = caller.require_write()
    if session.scalars(select(Appliance).where(Appliance.slug == spec.slug)).first() is not None:
        raise MarketConflictError(f"appliance {spec.slug!r} already exists")
    appliance = Appliance(
        slug=spec.slug,
        uuid=str(uuid.uuid4()),
        title=spec.title,
        description=spec.description,
        owner_id=person,
        created=now(),
    )
    session.add(appliance)
    session.flush()
    session.add(ApplianceMember(appliance_id=appliance.id, person_id=person, permission="owner"))
    session.flush()
    audit(session, caller, "appliance.create", f"appliance:{spec.slug}", title=spec.title)
    return appliance


def list_appliances(session: Session) -> list[Appliance]:
    """Every appliance, by slug."""
    return list(session.scalars(select(Appliance).order_by(Appliance.slug)))


def update_appliance(
    session: Session, caller: Caller, appliance: Appliance, spec: ApplianceUpdate
) -> Appliance:
    """Change an appliance's title or description (owner or maintainer)."""
    require_member(session, caller, appliance)
    changed = spec.model_dump(exclude_unset=True, exclude_none=True)
    for key, value in changed.items():
        setattr(appliance, key, value)
    session.flush()
    audit(session, caller, "appliance.update", f"appliance:{appliance.slug}", **changed)
    return appliance


def list_members(session: Session, appliance: Appliance) -> list[ApplianceMember]:
    """The appliance's members, by person id."""
    return list(
        session.scalars(
            select(ApplianceMember)
            .where(ApplianceMember.appliance_id == appliance.id)
            .order_by(ApplianceMember.person_id)
        )
    )


def add_member(
    session: Session, caller: Caller, appliance: Appliance, spec: MemberAdd
) -> ApplianceMember:
    """Add an owner or maintainer (owners only)."""
    require_member(session, caller, appliance, owner=True)
    person = get_person(session, spec.person_id)
    existing = session.scalars(
        select(ApplianceMember).where(
            ApplianceMember.appliance_id == appliance.id, ApplianceMember.person_id == person.id
        )
    ).first()
    if existing is not None:
        raise MarketConflictError(
            f"person {person.id} already is {existing.permission} of appliance {appliance.slug!r}"
        )
    member = ApplianceMember(
        appliance_id=appliance.id, person_id=person.id, permission=spec.permission
    )
    session.add(member)
    session.flush()
    audit(
        session,
        caller,
        "member.add",
        f"appliance:{appliance.slug}",
        person=person.id,
        permission=spec.permission,
    )
    return member


def remove_member(session: Session, caller: Caller, appliance: Appliance, person_id: int) -> None:
    """Remove a member (owners only); the last owner stays."""
    require_member(session, caller, appliance, owner=True)
    check_id(person_id, "person")
    member = session.scalars(
        select(ApplianceMember).where(
            ApplianceMember.appliance_id == appliance.id, ApplianceMember.person_id == person_id
        )
    ).first()
    if member is None:
        raise MarketNotFoundError(f"person {person_id} is not a member of {appliance.slug!r}")
    if member.permission == "owner":
        owners = session.scalar(
            select(func.count())
            .select_from(ApplianceMember)
            .where(
                ApplianceMember.appliance_id == appliance.id,
                ApplianceMember.permission == "owner",
            )
        )
        if owners == 1:
            raise MarketStateError(f"person {person_id} is the last owner of {appliance.slug!r}")
    session.delete(member)
    session.flush()
    audit(session, caller, "member.remove", f"appliance:{appliance.slug}", person=person_id)
