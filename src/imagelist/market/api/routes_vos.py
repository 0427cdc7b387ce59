"""``/api/v1/vos``: VOs and their VO-wide lists (draft entries, diff, publish, revert)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends

from ...errors import MarketNotFoundError, MarketPermissionError
from ..common import get_vo, require_vo_role
from ..people import list_vos
from ..schemas import EntryAdd
from ..settings import MarketSettings
from ..volists import (
    add_entry,
    get_draft,
    get_published,
    may_read_published,
    publish_draft,
    remove_entry,
    revert_draft,
)
from .deps import CallerDep, SessionDep, get_settings
from .views import vo_list_view, vo_view

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...db.market.models import Vo

router = APIRouter(prefix="/vos", tags=["vos"])
SettingsDep = Annotated[MarketSettings, Depends(get_settings)]


@router.get("")
def vos(session: SessionDep) -> list[dict[str, Any]]:
    """Every VO."""
    return [vo_view(vo) for vo in list_vos(session)]


@router.get("/{vo}")
def vo(vo: str, session: SessionDep) -> dict[str, Any]:
    """One VO."""
    return vo_view(get_vo(session, vo))


@router.get("/{vo}/list")
def published_list(vo: str, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """The published VO list; entries whose version expired or was archived are flagged.

    A gated VO's list needs a token with ``vo:<name>:read`` or a role in the VO.
    """
    found = get_vo(session, vo)
    if not may_read_published(session, caller, found):
        caller.require_person()
        raise MarketPermissionError(f"the list of VO {found.name!r} needs scope vo:{vo}:read")
    published = get_published(session, found)
    if published is None:
        raise MarketNotFoundError(f"VO {found.name!r} has not published a list")
    return vo_list_view(session, published)


def _draft_view(session: Session, found: Vo) -> dict[str, Any]:
    """The VO's draft list with its diff against the published one."""
    current = get_draft(session, found)
    assert current is not None
    return vo_list_view(session, current, get_published(session, found), draft=True)


@router.get("/{vo}/list/draft")
def draft(vo: str, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """The draft and its diff against the published list (VO managers, deputies, experts)."""
    found = get_vo(session, vo)
    require_vo_role(session, caller, found, write=False)
    return _draft_view(session, found)


@router.get("/{vo}/list/draft/diff")
def draft_diff(vo: str, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """What publishing the draft would change."""
    return dict(draft(vo, session, caller)["diff"])


@router.post("/{vo}/list/draft/entries", status_code=201)
def new_entry(vo: str, spec: EntryAdd, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """Endorse an appliance's (published, unexpired) version in the draft."""
    found = get_vo(session, vo)
    add_entry(session, caller, found, spec)
    return _draft_view(session, found)


@router.delete("/{vo}/list/draft/entries/{slug}")
def drop_entry(vo: str, slug: str, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """Take an appliance out of the draft."""
    found = get_vo(session, vo)
    remove_entry(session, caller, found, slug)
    return _draft_view(session, found)


@router.post("/{vo}/list/draft/publish")
def publish(
    vo: str, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> dict[str, Any]:
    """Publish the draft and sign the VO list."""
    published = publish_draft(session, caller, get_vo(session, vo), settings)
    return vo_list_view(session, published)


@router.post("/{vo}/list/draft/revert")
def revert(vo: str, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """Discard the draft's changes."""
    found = get_vo(session, vo)
    fresh = revert_draft(session, caller, found)
    return vo_list_view(session, fresh, get_published(session, found), draft=True)
