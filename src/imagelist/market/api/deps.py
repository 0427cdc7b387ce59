"""FastAPI dependencies: the database session of a request, who is calling, and role checks.

Reusable by every router (the web pages too):

* :func:`db_session` (use :data:`SessionDep`): one session, one transaction per request:
  committed when the endpoint returns and before the response is made, rolled back when it
  raises (the database is unchanged by a refused request; a failed commit is an error answer).
* :func:`current_identity`: the :class:`~imagelist.market.common.Caller`, from
  ``Authorization: Bearer <token>`` (or basic ``<token>:x-oauth-basic``), else from the
  ``X-SSL-Client-*`` headers of a trusted reverse proxy, else anonymous. A bad token is a 401,
  never anonymous. The headers of any other peer are ignored (and logged). A certificate is an
  ambient credential (a browser shows it to a form of any site): a change it authorises from
  another origin (``Origin``, ``Sec-Fetch-Site``) is refused (403).
* :func:`authenticated`, :func:`require_member` (path ``slug``), :func:`require_vo_role`
  (path ``vo``): 401/403 unless the caller may act.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ...db.market.models import Appliance, Vo
from ...errors import MarketAuthenticationError, MarketError, MarketPermissionError
from ..common import Caller, get_appliance, get_vo
from ..common import require_member as _require_member
from ..common import require_vo_role as _require_vo_role
from ..people import canonical_dn, find_person
from ..settings import MarketSettings
from ..tokens import authenticate_token

__all__ = [
    "CallerDep",
    "SessionDep",
    "authenticated",
    "current_identity",
    "db_session",
    "get_settings",
    "require_member",
    "require_vo_role",
]

logger = logging.getLogger(__name__)

VERIFY_HEADER = "x-ssl-client-verify"
SUBJECT_HEADER = "x-ssl-client-s-dn"
ISSUER_HEADER = "x-ssl-client-i-dn"


def get_settings(request: Request) -> MarketSettings:
    """The app's settings."""
    settings: MarketSettings = request.app.state.settings
    return settings


def db_session(request: Request) -> Iterator[Session]:
    """A session in one transaction for the request."""
    session = Session(request.app.state.engine)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


#: Committed before the response is sent (``scope="function"``): a client that sees the answer
#: sees its effect, and a failed commit is an error answer, never a 200 for a rolled-back change.
SessionDep = Annotated[Session, Depends(db_session, scope="function")]


def _token_from(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise MarketAuthenticationError("malformed basic credentials") from None
        if password in ("", "x-oauth-basic") and user:
            return user
        raise MarketAuthenticationError("basic credentials must be <token>:x-oauth-basic")
    raise MarketAuthenticationError("Authorization must be 'Bearer <token>'")


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(url: str) -> str:
    """``scheme://host[:port]`` as a browser writes it in ``Origin`` (no default port)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    shown = "" if port is None or port == _DEFAULT_PORTS.get(scheme) else f":{port}"
    return f"{scheme}://{host}{shown}"


def _cross_site(request: Request, settings: MarketSettings) -> bool:
    """Whether a browser made this request for another site (a client certificate is an
    ambient credential: a browser shows it to a form of any site that posts to us)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.strip().lower() != _origin(settings.public_base_url)
    return request.headers.get("sec-fetch-site", "none").lower() not in ("none", "same-origin")


def _from_proxy(request: Request, session: Session, settings: MarketSettings) -> Caller | None:
    headers = request.headers
    if not any(name in headers for name in (VERIFY_HEADER, SUBJECT_HEADER, ISSUER_HEADER)):
        return None
    peer = request.client.host if request.client else None
    if not settings.is_trusted_proxy(peer):
        logger.warning("ignored X-SSL-Client-* headers from %s (not a trusted proxy)", peer)
        return None
    verify = headers.get(VERIFY_HEADER, "")
    if verify == "NONE" or not verify:
        return None
    if verify != "SUCCESS":
        raise MarketAuthenticationError(f"client certificate not verified by the proxy: {verify}")
    subject = headers.get(SUBJECT_HEADER, "")
    issuer = headers.get(ISSUER_HEADER, "")
    if not subject or not issuer:
        raise MarketAuthenticationError("the proxy sent no client certificate subject or issuer")
    dn = canonical_dn(subject, "client certificate subject")
    ca = canonical_dn(issuer, "client certificate issuer")
    if request.method not in _SAFE_METHODS and _cross_site(request, settings):
        raise MarketPermissionError(
            "a client certificate does not authorise a cross-site request (Origin "
            f"{request.headers.get('origin', '-')[:100]!r}); use an API token"
        )
    person = find_person(session, "x509", dn, ca)
    return Caller(person_id=None if person is None else person.id, via="x509", dn=dn, issuer=ca)


def current_identity(
    request: Request,
    session: SessionDep,
    settings: Annotated[MarketSettings, Depends(get_settings)],
) -> Caller:
    """Who is calling (see the module's docstring)."""
    header = request.headers.get("authorization")
    if header:
        try:
            secret = _token_from(header)
        except MarketError:
            raise
        assert secret is not None
        token = authenticate_token(session, secret)
        return Caller(
            person_id=token.person_id,
            via="token",
            scopes=frozenset(token.scopes),
            token_id=token.id,
        )
    return _from_proxy(request, session, settings) or Caller(person_id=None)


CallerDep = Annotated[Caller, Depends(current_identity)]


def authenticated(caller: CallerDep) -> Caller:
    """The caller, if they are a known person (401/403 otherwise)."""
    caller.require_person()
    return caller


def require_member(slug: str, session: SessionDep, caller: CallerDep) -> Appliance:
    """The appliance ``slug``, if the caller is its owner or maintainer (with write scope)."""
    appliance = get_appliance(session, slug)
    _require_member(session, caller, appliance)
    return appliance


def require_vo_role(vo: str, session: SessionDep, caller: CallerDep) -> Vo:
    """The VO ``vo``, if the caller is its manager, deputy or expert (with write scope)."""
    found = get_vo(session, vo)
    _require_vo_role(session, caller, found)
    return found
