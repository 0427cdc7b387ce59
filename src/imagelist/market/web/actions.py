"""What the page handlers share: the caller, flash messages, running a service call, audit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db.market.models import AuditEvent, Person
from ...errors import MarketError
from ..common import SCOPE_WRITE, Caller
from .identity import SessionUser, session_user

__all__ = ["AuditRow", "audit_rows", "caller_of", "flash", "perform", "viewer"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def viewer(request: Request, session: Session) -> SessionUser | None:
    """The logged-in person of the page (also put where the templates find it)."""
    me = session_user(request, session)
    request.state.me = me
    return me


def caller_of(me: SessionUser | None) -> Caller:
    """The market service's caller for a page request: the person, with write scope."""
    if me is None:
        return Caller(person_id=None)
    return Caller(person_id=me.person_id, via="web", scopes=frozenset({SCOPE_WRITE}))


def flash(request: Request, kind: str, text: str) -> None:
    request.session["flash"] = [kind, text[:500]]


def _validation_text(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "form"
    return f"{where}: {' '.join(str(first.get('msg', 'invalid')).split())}"


def perform(
    request: Request,
    session: Session,
    action: Callable[[], T],
    *,
    back: str,
    done: str | Callable[[T], str],
    notice: str,
) -> Response:
    """Run ``action`` (a service call) in the request's transaction and redirect (303).

    A refusal (a market rule, a malformed field) rolls back and goes ``back`` with the reason;
    success commits and goes to ``done``. The message is shown once on the next page.
    """
    try:
        result = action()
        session.commit()
    except MarketError as exc:
        session.rollback()
        flash(request, "error", str(exc))
        return RedirectResponse(back, status_code=303)
    except ValidationError as exc:
        session.rollback()
        flash(request, "error", _validation_text(exc))
        return RedirectResponse(back, status_code=303)
    flash(request, "notice", notice)
    target = done(result) if callable(done) else done
    return RedirectResponse(target, status_code=303)


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    who: str
    action: str
    detail: dict[str, Any]


def audit_rows(session: Session, *objects: str, limit: int = 50) -> list[AuditRow]:
    """The newest audit events about ``objects``, with the actor's name."""
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object.in_(objects))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).all()
    names: dict[str, str] = {}
    rows = []
    for event in events:
        who = names.get(event.actor)
        if who is None:
            who = event.actor
            if event.actor.startswith("person:") and event.actor[7:].isdigit():
                person = session.get(Person, int(event.actor[7:]))
                if person is not None:
                    who = person.display_name
            names[event.actor] = who
        rows.append(AuditRow(event.at, who, event.action, dict(event.detail or {})))
    return rows
