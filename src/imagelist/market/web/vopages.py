"""The VO pages: the published VO-wide list with its warnings, and for the VO's managers,
deputies and experts the draft editor (add, remove, update to latest), the diff against the
published list, publish and revert. The rules are the market's (:mod:`imagelist.market.volists`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from ...db.market.models import Appliance, ApplianceVersion
from ...errors import MarketError
from ..common import get_vo, vo_roles
from ..people import list_vos
from ..schemas import EntryAdd
from ..volists import (
    add_entry,
    diff,
    entry_flag,
    get_draft,
    get_published,
    may_read_published,
    publish_draft,
    remove_entry,
    revert_draft,
)
from .actions import audit_rows, caller_of, perform, viewer
from .context import DbSession, render, web
from .sessions import check_csrf

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(check_csrf)])


@router.get("/vos")
def vos_page(request: Request, session: DbSession) -> Response:
    caller = caller_of(viewer(request, session))
    vos = list_vos(session)
    published = {
        vo.id: get_published(session, vo) if may_read_published(session, caller, vo) else None
        for vo in vos
    }
    return render(request, "vos.html", vos=vos, published=published)


@router.get("/vos/{name}")
def vo_page(request: Request, session: DbSession, name: str) -> Response:
    me = viewer(request, session)
    try:
        vo = get_vo(session, name)
    except MarketError as exc:
        return render(request, "message.html", status_code=404, error=str(exc))
    roles = vo_roles(session, vo, me.person_id if me else None)
    # a gated list is the VO's and its token holders' only (as /store and the API say)
    hidden = not may_read_published(session, caller_of(me), vo)
    published = None if hidden else get_published(session, vo)
    draft = get_draft(session, vo, create=False) if roles else None
    delta = diff(draft, published) if draft is not None else None
    candidates: list[Appliance] = []
    if roles:
        candidates = list(
            session.scalars(
                select(Appliance)
                .join(ApplianceVersion, ApplianceVersion.appliance_id == Appliance.id)
                .where(ApplianceVersion.state == "published")
                .order_by(Appliance.title)
            )
        )
    latest = {
        v.appliance_id: v
        for v in session.scalars(
            select(ApplianceVersion).where(ApplianceVersion.state == "published")
        )
    }
    return render(
        request,
        "vo.html",
        vo=vo,
        hidden=hidden,
        roles=sorted(roles),
        published=published,
        draft=draft,
        delta=delta,
        candidates=candidates,
        latest=latest,
        flag=entry_flag,
        obsolete=[e for e in (published.entries if published else []) if entry_flag(e.version)],
        list_url=f"{web(request).settings.public_base_url}/store/vo/{vo.name}/image.list",
        audit=[] if hidden else audit_rows(session, f"vo:{vo.name}"),
    )


@router.post("/vos/{name}/draft/entries")
def add(
    request: Request,
    session: DbSession,
    name: str,
    appliance: Annotated[str, Form()],
) -> Response:
    caller = caller_of(viewer(request, session))
    page = f"/vos/{name}"
    return perform(
        request,
        session,
        lambda: add_entry(session, caller, get_vo(session, name), EntryAdd(appliance=appliance)),
        back=page,
        done=page,
        notice=f"{appliance} is in the draft (its published version).",
    )


@router.post("/vos/{name}/draft/entries/{slug}/remove")
def remove(request: Request, session: DbSession, name: str, slug: str) -> Response:
    caller = caller_of(viewer(request, session))
    page = f"/vos/{name}"
    return perform(
        request,
        session,
        lambda: remove_entry(session, caller, get_vo(session, name), slug),
        back=page,
        done=page,
        notice=f"{slug} removed from the draft.",
    )


@router.post("/vos/{name}/draft/publish")
def publish(request: Request, session: DbSession, name: str) -> Response:
    caller = caller_of(viewer(request, session))
    settings = web(request).settings
    page = f"/vos/{name}"
    return perform(
        request,
        session,
        lambda: publish_draft(session, caller, get_vo(session, name), settings),
        back=page,
        done=page,
        notice="The VO list is published.",
    )


@router.post("/vos/{name}/draft/revert")
def revert(request: Request, session: DbSession, name: str) -> Response:
    caller = caller_of(viewer(request, session))
    page = f"/vos/{name}"
    return perform(
        request,
        session,
        lambda: revert_draft(session, caller, get_vo(session, name)),
        back=page,
        done=page,
        notice="The draft is the published list again.",
    )
