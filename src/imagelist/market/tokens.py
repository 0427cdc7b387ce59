"""API tokens: random, shown once, stored as SHA-256, scoped, expiring, revocable.

A token is ``iml_`` and 43 URL-safe characters (256 random bits). Scopes:

* ``market:write``: change what the person's roles allow (without it a token only reads);
* ``vo:<name>:read``: read VO ``<name>``'s published list when the VO is token-gated.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.market.models import AccessToken
from ..errors import (
    MarketAuthenticationError,
    MarketConflictError,
    MarketInputError,
    MarketNotFoundError,
    MarketPermissionError,
)
from .common import SCOPE_WRITE, Caller, audit, check_id, get_person, get_vo, now, vo_roles

__all__ = [
    "TOKEN_PREFIX",
    "authenticate_token",
    "check_scopes",
    "create_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
]

TOKEN_PREFIX = "iml_"  # noqa: S105 - a prefix, not a secret
_SCOPE_RE = re.compile(r"market:write|vo:[A-Za-z0-9][A-Za-z0-9._-]{0,99}:read")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}")
#: Seconds between two updates of a token's ``last_used`` (one write per minute, not per call).
LAST_USED_GRANULARITY = 60


def hash_token(secret: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def check_scopes(scopes: list[str]) -> list[str]:
    """``scopes`` without duplicates, each checked; MarketInputError names a bad one."""
    result: list[str] = []
    for scope in scopes:
        if not _SCOPE_RE.fullmatch(scope):
            raise MarketInputError(
                f"scope {scope!r} is not valid: use {SCOPE_WRITE!r} or 'vo:<name>:read'"
            )
        if scope not in result:
            result.append(scope)
    return result


def create_token(
    session: Session,
    caller: Caller,
    person_id: int,
    name: str,
    scopes: list[str],
    *,
    days: int,
    max_days: int,
) -> tuple[AccessToken, str]:
    """A new token for ``person_id``: the row and the secret (shown once, never stored).

    Through the API (``caller.via`` not ``cli``) a person may only ask for ``vo:X:read`` of a
    VO where they hold a role; the admin CLI may grant any scope.
    """
    person = get_person(session, person_id)
    if not _NAME_RE.fullmatch(name):
        raise MarketInputError(f"token name {name!r} is not valid (letters, digits, ' ._@-')")
    checked = check_scopes(scopes)
    if not 1 <= days <= max_days:
        raise MarketInputError(f"token lifetime must be 1 to {max_days} days, not {days}")
    for scope in checked:
        if scope.startswith("vo:"):
            vo = get_vo(session, scope.split(":")[1])
            if caller.via != "cli" and not vo_roles(session, vo, person.id):
                raise MarketPermissionError(
                    f"scope {scope!r} needs a role in VO {vo.name!r} (or the admin CLI)"
                )
    taken = session.scalars(
        select(AccessToken).where(AccessToken.person_id == person.id, AccessToken.name == name)
    ).first()
    if taken is not None:
        raise MarketConflictError(f"person {person.id} already has a token named {name!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = now()
    token = AccessToken(
        person_id=person.id,
        name=name,
        token_sha256=hash_token(secret),
        scopes=checked,
        created=created,
        expires_at=created + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    audit(session, caller, "token.create", f"person:{person.id}", name=name, scopes=checked)
    return token, secret


def list_tokens(session: Session, person_id: int | None = None) -> list[AccessToken]:
    """Tokens (of one person, or all), by id."""
    query = select(AccessToken).order_by(AccessToken.id)
    if person_id is not None:
        query = query.where(AccessToken.person_id == check_id(person_id, "person"))
    return list(session.scalars(query))


def revoke_token(
    session: Session, caller: Caller, token_id: int, *, person_id: int | None = None
) -> AccessToken:
    """Revoke a token (for good); ``person_id`` limits it to that person's tokens."""
    token = session.get(AccessToken, check_id(token_id, "token"))
    if token is None or (person_id is not None and token.person_id != person_id):
        raise MarketNotFoundError(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now()
        audit(session, caller, "token.revoke", f"person:{token.person_id}", name=token.name)
        session.flush()
    return token


def authenticate_token(session: Session, secret: str, *, at: datetime | None = None) -> AccessToken:
    """The live token whose secret this is; MarketAuthenticationError (401) otherwise."""
    when = at or now()
    token = session.scalars(
        select(AccessToken).where(AccessToken.token_sha256 == hash_token(secret))
    ).first()
    if token is None:
        raise MarketAuthenticationError("unknown API token")
    if token.revoked_at is not None:
        raise MarketAuthenticationError(f"API token {token.name!r} was revoked")
    if token.expires_at <= when:
        raise MarketAuthenticationError(f"API token {token.name!r} has expired")
    last = token.last_used
    if last is None or (when - last).total_seconds() >= LAST_USED_GRANULARITY:
        token.last_used = when
    return token
