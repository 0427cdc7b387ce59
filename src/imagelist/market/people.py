"""People, their identities, VOs and VO roles (the admin CLI's library functions).

DNs are stored in the project's canonical form (the OpenSSL 3 one-line ``/DC=.../CN=...``, as
``vmcatcher_endorser`` stores it); :func:`canonical_dn` converts what an admin types or what a
reverse proxy forwards (RFC 2253 ``CN=...,DC=...``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.market.models import VO_ROLES, Identity, Person, Vo, VoList, VoRole
from ..errors import MarketConflictError, MarketInputError, MarketNotFoundError, UsageError
from ..trust.typed_dn import normalise_typed_dn
from .common import VO_NAME_RE, Caller, audit, check_id, check_name, get_person, get_vo, now

__all__ = [
    "IDENTITY_KINDS",
    "add_identity",
    "canonical_dn",
    "create_person",
    "create_vo",
    "find_person",
    "grant_role",
    "list_people",
    "list_vos",
    "remove_identity",
    "revoke_role",
]

IDENTITY_KINDS = ("x509", "oidc")


def canonical_dn(typed: str, what: str = "DN") -> str:
    """``typed`` (slash, RFC 2253 or OpenSSL comma form) in the canonical slash form."""
    try:
        return normalise_typed_dn(typed, what)[0]
    except UsageError as exc:
        raise MarketInputError(str(exc)) from None


def create_person(
    session: Session, caller: Caller, display_name: str, email: str | None = None
) -> Person:
    """A new person."""
    name = " ".join(display_name.split())
    if not name:
        raise MarketInputError("a person needs a display name")
    person = Person(display_name=name, email=email or None, created=now())
    session.add(person)
    session.flush()
    audit(session, caller, "person.create", f"person:{person.id}", display_name=name)
    return person


def list_people(session: Session) -> list[Person]:
    """Every person, by id."""
    return list(session.scalars(select(Person).order_by(Person.id)))


def add_identity(
    session: Session, caller: Caller, person_id: int, kind: str, subject: str, issuer: str
) -> Identity:
    """Attach an X.509 DN (with its CA DN) or an OIDC ``sub`` (with its issuer) to a person."""
    person = get_person(session, person_id)
    if kind not in IDENTITY_KINDS:
        raise MarketInputError(f"identity kind {kind!r} is not one of {', '.join(IDENTITY_KINDS)}")
    if kind == "x509":
        subject, issuer = canonical_dn(subject, "DN"), canonical_dn(issuer, "issuer DN")
    elif not subject.strip() or not issuer.strip():
        raise MarketInputError("an OIDC identity needs a subject and an issuer")
    taken = session.scalars(
        select(Identity).where(
            Identity.kind == kind, Identity.subject == subject, Identity.issuer == issuer
        )
    ).first()
    if taken is not None:
        raise MarketConflictError(
            f"{kind} identity {subject!r} already belongs to person {taken.person_id}"
        )
    identity = Identity(
        person_id=person.id, kind=kind, subject=subject, issuer=issuer, created=now()
    )
    session.add(identity)
    session.flush()
    audit(session, caller, "identity.add", f"person:{person.id}", kind=kind, subject=subject)
    return identity


def remove_identity(session: Session, caller: Caller, identity_id: int) -> None:
    """Detach an identity."""
    identity = session.get(Identity, check_id(identity_id, "identity"))
    if identity is None:
        raise MarketNotFoundError(f"no identity {identity_id}")
    audit(
        session,
        caller,
        "identity.remove",
        f"person:{identity.person_id}",
        kind=identity.kind,
        subject=identity.subject,
    )
    session.delete(identity)
    session.flush()


def find_person(session: Session, kind: str, subject: str, issuer: str) -> Person | None:
    """The person with this identity, or None."""
    return session.scalars(
        select(Person)
        .join(Identity, Identity.person_id == Person.id)
        .where(Identity.kind == kind, Identity.subject == subject, Identity.issuer == issuer)
    ).first()


def create_vo(
    session: Session, caller: Caller, name: str, description: str = "", *, gated: bool = False
) -> Vo:
    """A new VO, with the empty draft of its VO list (whose uuid it keeps for life)."""
    check_name(name, "VO name", VO_NAME_RE)
    if session.scalars(select(Vo).where(Vo.name == name)).first() is not None:
        raise MarketConflictError(f"VO {name!r} already exists")
    vo = Vo(name=name, description=description, gated=gated, created=now())
    session.add(vo)
    session.flush()
    session.add(
        VoList(
            vo_id=vo.id,
            uuid=str(uuid.uuid4()),
            state="draft",
            title=f"VO-wide image list of {name}",
            description=f"This is a VO-wide image list for {name} VO.",
            created_at=now(),
        )
    )
    session.flush()
    audit(session, caller, "vo.create", f"vo:{name}", gated=gated)
    return vo


def list_vos(session: Session) -> list[Vo]:
    """Every VO, by name."""
    return list(session.scalars(select(Vo).order_by(Vo.name)))


def _check_role(role: str) -> str:
    if role not in VO_ROLES:
        raise MarketInputError(f"VO role {role!r} is not one of {', '.join(VO_ROLES)}")
    return role


def grant_role(session: Session, caller: Caller, vo_name: str, person_id: int, role: str) -> VoRole:
    """Give a person a role (manager, deputy, expert) in a VO."""
    vo = get_vo(session, vo_name)
    person = get_person(session, person_id)
    _check_role(role)
    existing = session.scalars(
        select(VoRole).where(
            VoRole.vo_id == vo.id, VoRole.person_id == person.id, VoRole.role == role
        )
    ).first()
    if existing is not None:
        raise MarketConflictError(f"person {person.id} already is {role} of VO {vo.name!r}")
    granted = VoRole(vo_id=vo.id, person_id=person.id, role=role)
    session.add(granted)
    session.flush()
    audit(session, caller, "role.grant", f"vo:{vo.name}", person=person.id, role=role)
    return granted


def revoke_role(session: Session, caller: Caller, vo_name: str, person_id: int, role: str) -> None:
    """Take a role away."""
    vo = get_vo(session, vo_name)
    _check_role(role)
    check_id(person_id, "person")
    existing = session.scalars(
        select(VoRole).where(
            VoRole.vo_id == vo.id, VoRole.person_id == person_id, VoRole.role == role
        )
    ).first()
    if existing is None:
        raise MarketNotFoundError(f"person {person_id} is not {role} of VO {vo.name!r}")
    session.delete(existing)
    session.flush()
    audit(session, caller, "role.revoke", f"vo:{vo.name}", person=person_id, role=role)
