"""``/api/v1/vocab`` and ``/api/v1/me`` (the caller, their tokens)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends

from ..common import get_person
from ..schemas import TokenCreate
from ..settings import MarketSettings
from ..tokens import create_token, list_tokens, revoke_token
from ..vocab import VOCABULARIES
from .deps import CallerDep, SessionDep, get_settings
from .views import person_view, token_view

router = APIRouter(tags=["misc"])
SettingsDep = Annotated[MarketSettings, Depends(get_settings)]


@router.get("/vocab/{name}")
def vocabulary(name: Literal["hypervisors", "formats", "archs", "oses"]) -> list[str]:
    """The allowed values of a field."""
    return list(VOCABULARIES[name])


@router.get("/me")
def me(session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """Who the market takes the caller for."""
    result: dict[str, Any] = {"via": caller.via, "dn": caller.dn, "issuer": caller.issuer}
    if caller.person_id is not None:
        result["person"] = person_view(get_person(session, caller.person_id))
    if caller.via == "token":
        result["scopes"] = sorted(caller.scopes)
    return result


@router.get("/me/tokens")
def my_tokens(session: SessionDep, caller: CallerDep) -> list[dict[str, Any]]:
    """The caller's tokens (never their secrets)."""
    return [token_view(t) for t in list_tokens(session, caller.require_person())]


@router.post("/me/tokens", status_code=201)
def new_token(
    spec: TokenCreate, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> dict[str, Any]:
    """A new token for the caller; its secret is in this answer only."""
    person = caller.require_write()
    token, secret = create_token(
        session,
        caller,
        person,
        spec.name,
        spec.scopes,
        days=spec.days,
        max_days=settings.token_max_days,
    )
    return {**token_view(token), "token": secret}


@router.delete("/me/tokens/{token_id}")
def drop_token(token_id: int, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """Revoke one of the caller's tokens."""
    person = caller.require_person()
    return token_view(revoke_token(session, caller, token_id, person_id=person))
