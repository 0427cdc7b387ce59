"""Who is asking: the X.509 identity the trusted proxy forwards, the session's person, OIDC.

X.509: nginx (contrib/nginx/imagelist-market.conf) verifies the client certificate against the
IGTF CAs and CRLs and forwards ``X-SSL-Client-Verify``, ``X-SSL-Client-S-DN`` and
``X-SSL-Client-I-DN``. They are believed only when the TCP peer is one of the market's
``trusted_proxies`` and the verification said ``SUCCESS``; the DNs (RFC 2253) are stored in the
slash form vmcatcher uses. ``/login`` shows the identity and logs in with a POST (CSRF-checked),
which re-reads the certificate of that request.

OIDC (EGI Check-in style, authlib): ``/login/oidc`` and its callback; the identity is the
issuer and ``sub``. Off unless ``IMAGELIST_MARKET_OIDC_ISSUER`` and ``_CLIENT_ID`` are set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from ...db.market.models import AuditEvent, Identity, Person
from ...errors import UsageError
from ...trust.typed_dn import normalise_typed_dn
from ..common import now
from .context import web

__all__ = ["ForwardedIdentity", "SessionUser", "forwarded_identity", "session_user"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForwardedIdentity:
    """A client certificate the proxy verified: subject and issuer in the slash form."""

    subject: str
    issuer: str

    @property
    def common_name(self) -> str:
        for part in reversed(self.subject.split("/")):
            if part.startswith("CN="):
                return part[3:]
        return self.subject


@dataclass(frozen=True)
class SessionUser:
    """The logged-in person of a page request."""

    person_id: int
    display_name: str
    via: str  # x509 | oidc


def forwarded_identity(request: Request) -> ForwardedIdentity | None:
    """The verified client certificate of this request, if a trusted proxy forwarded one."""
    peer = request.client.host if request.client else None
    if not web(request).settings.is_trusted_proxy(peer):
        return None
    if request.headers.get("x-ssl-client-verify") != "SUCCESS":
        return None
    subject = request.headers.get("x-ssl-client-s-dn", "")
    issuer = request.headers.get("x-ssl-client-i-dn", "")
    try:
        return ForwardedIdentity(
            normalise_typed_dn(subject, "client DN")[0], normalise_typed_dn(issuer, "issuer DN")[0]
        )
    except UsageError as exc:
        log.warning("ignoring a forwarded client certificate: %s", exc)
        return None


def register(
    session: Session, kind: str, subject: str, issuer: str, name: str, email: str | None
) -> Person:
    """A new person with one identity, made by their first login (audited)."""
    when = now()
    person = Person(display_name=name or subject, email=email, created=when)
    session.add(person)
    session.flush()
    session.add(
        Identity(person_id=person.id, kind=kind, subject=subject, issuer=issuer, created=when)
    )
    session.add(
        AuditEvent(
            actor=f"person:{person.id}",
            action="person.register",
            object=f"person:{person.id}",
            at=when,
            detail={"kind": kind, "subject": subject, "issuer": issuer},
        )
    )
    return person


def session_user(request: Request, session: Session) -> SessionUser | None:
    """The session's person, if the session names one that still exists."""
    person_id = request.session.get("person")
    if not isinstance(person_id, int):
        return None
    person = session.get(Person, person_id)
    if person is None:
        return None
    via = request.session.get("via")
    return SessionUser(person.id, person.display_name, via if isinstance(via, str) else "x509")


def log_in(request: Request, person: Person, via: str) -> None:
    """A fresh session for ``person`` (nothing of the anonymous session is kept)."""
    request.session.clear()
    request.session["person"] = person.id
    request.session["via"] = via
