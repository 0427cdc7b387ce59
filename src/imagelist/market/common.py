"""What every market operation shares: the caller, the clock, the audit trail, look-ups."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.market.models import (
    Appliance,
    ApplianceMember,
    ApplianceVersion,
    AuditEvent,
    Base,
    Person,
    Vo,
    VoRole,
)
from ..errors import (
    MarketAuthenticationError,
    MarketInputError,
    MarketNotFoundError,
    MarketPermissionError,
)

__all__ = [
    "MAX_ID",
    "SCOPE_WRITE",
    "SLUG_RE",
    "Caller",
    "audit",
    "check_id",
    "check_name",
    "get_appliance",
    "get_version",
    "get_vo",
    "member_permission",
    "now",
    "require_member",
    "require_vo_role",
    "vo_roles",
]

#: The scope a token needs for every change (tokens without it only read).
SCOPE_WRITE = "market:write"
#: Slugs and VO names: lower-case letters, digits, ``.``, ``_`` and ``-``; a letter or digit first.
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
VO_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

_T = TypeVar("_T", bound=Base)


def now() -> datetime:
    """The current time, aware UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Caller:
    """Who makes a request: a person (by token or certificate), the admin CLI, or nobody."""

    person_id: int | None
    #: How the caller was recognised: ``token``, ``x509``, ``cli``, ``anonymous``, or
    #: ``system`` (the service itself, e.g. the integrity runner publishing a version).
    via: str = "anonymous"
    #: A token's scopes; a certificate or the CLI may do all their roles allow.
    scopes: frozenset[str] = field(default_factory=frozenset)
    dn: str | None = None
    issuer: str | None = None
    token_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names the caller."""
        if self.via == "cli" or (self.via == "system" and self.person_id is None):
            return self.via
        if self.person_id is None:
            return f"x509:{self.dn}" if self.dn else "anonymous"
        return f"person:{self.person_id}"

    def has_scope(self, scope: str) -> bool:
        """Whether the caller may act within ``scope``."""
        return self.via in ("x509", "cli") or scope in self.scopes

    def require_person(self) -> int:
        """The caller's person id; a 401/403-style refusal for anyone else."""
        if self.person_id is None:
            if self.dn:
                raise MarketPermissionError(
                    f"certificate {self.dn!r} is not the identity of any person"
                )
            raise MarketAuthenticationError("authentication required")
        return self.person_id

    def require_write(self) -> int:
        """The caller's person id, if it may change things (token scope ``market:write``)."""
        person = self.require_person()
        if not self.has_scope(SCOPE_WRITE):
            raise MarketPermissionError(f"the token lacks the scope {SCOPE_WRITE!r}")
        return person


CLI = Caller(person_id=None, via="cli")


def audit(session: Session, caller: Caller, action: str, obj: str, **detail: Any) -> AuditEvent:
    """Append one audit event (in the caller's transaction)."""
    event = AuditEvent(actor=caller.actor, action=action, object=obj, at=now(), detail=detail)
    session.add(event)
    return event


def check_name(value: str, what: str, pattern: re.Pattern[str] = SLUG_RE) -> str:
    """``value`` if it matches ``pattern``, else a MarketInputError naming the rule."""
    if not pattern.fullmatch(value):
        raise MarketInputError(
            f"{what} {value!r} is not valid: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return value


#: Largest id a row can have (PostgreSQL ``integer``); a larger number names no row.
MAX_ID = 2**31 - 1


def check_id(value: int, what: str) -> int:
    """``value`` if it can be a row id, else MarketNotFoundError (never a database error)."""
    if not 1 <= value <= MAX_ID:
        raise MarketNotFoundError(f"no {what} {value}")
    return value


def _one(session: Session, model: type[_T], column: Any, value: Any, what: str) -> _T:
    if isinstance(value, int):
        check_id(value, what)
    if isinstance(value, str) and "\x00" in value:  # no database stores it: no such row
        raise MarketNotFoundError(f"no {what} {value!r}")
    found = session.scalars(select(model).where(column == value)).first()
    if found is None:
        raise MarketNotFoundError(f"no {what} {value!r}")
    return found


def get_appliance(session: Session, slug: str) -> Appliance:
    """The appliance called ``slug`` (404 otherwise)."""
    return _one(session, Appliance, Appliance.slug, slug, "appliance")


def get_version(session: Session, version_id: int) -> ApplianceVersion:
    """The appliance version ``version_id`` (404 otherwise)."""
    return _one(session, ApplianceVersion, ApplianceVersion.id, version_id, "version")


def get_vo(session: Session, name: str) -> Vo:
    """The VO called ``name`` (404 otherwise)."""
    return _one(session, Vo, Vo.name, name, "VO")


def get_person(session: Session, person_id: int) -> Person:
    """The person ``person_id`` (404 otherwise)."""
    return _one(session, Person, Person.id, person_id, "person")


def member_permission(session: Session, appliance: Appliance, person_id: int) -> str | None:
    """``owner``, ``maintainer`` or None: what ``person_id`` may do with ``appliance``."""
    return session.scalar(
        select(ApplianceMember.permission).where(
            ApplianceMember.appliance_id == appliance.id,
            ApplianceMember.person_id == person_id,
        )
    )


def require_member(
    session: Session, caller: Caller, appliance: Appliance, *, owner: bool = False
) -> int:
    """The caller's person id if they are an owner (or maintainer, unless ``owner``)."""
    person = caller.require_write()
    permission = member_permission(session, appliance, person)
    allowed = ("owner",) if owner else ("owner", "maintainer")
    if permission not in allowed:
        needed = "an owner" if owner else "an owner or maintainer"
        raise MarketPermissionError(f"only {needed} of appliance {appliance.slug!r} may do this")
    return person


def vo_roles(session: Session, vo: Vo, person_id: int | None) -> set[str]:
    """The roles ``person_id`` holds in ``vo``."""
    if person_id is None:
        return set()
    return set(
        session.scalars(
            select(VoRole.role).where(VoRole.vo_id == vo.id, VoRole.person_id == person_id)
        )
    )


def require_vo_role(session: Session, caller: Caller, vo: Vo, *, write: bool = True) -> int:
    """The caller's person id if they are a manager, deputy or expert of ``vo``."""
    person = caller.require_write() if write else caller.require_person()
    if not vo_roles(session, vo, person):
        raise MarketPermissionError(
            f"only a manager, deputy or expert of VO {vo.name!r} may do this"
        )
    return person
