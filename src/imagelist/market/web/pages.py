"""The browsing pages and the person's own: catalogue, appliance, new appliance, "me".

Everything here reads without JavaScript; forms post with the session's CSRF token and go
through the market's service functions (:mod:`imagelist.market.appliances`, ``.versions``,
``.tokens``), so the pages enforce exactly the rules the REST API does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from ...db.market.models import ApplianceVersion, Identity, Vo, VoList, VoListEntry
from ...errors import MarketError
from ..appliances import create_appliance, list_members
from ..common import get_appliance, member_permission
from ..schemas import ApplianceCreate, VersionCreate
from ..tokens import create_token, list_tokens, revoke_token
from ..versions import create_version
from .actions import audit_rows, caller_of, flash, perform, viewer
from .catalogue import Filters, catalogue
from .context import DbSession, render, web
from .sessions import check_csrf

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(check_csrf)])
Field = Annotated[str, Form()]


@router.get("/")
def catalogue_page(
    request: Request,
    session: DbSession,
    q: str = "",
    os: str = "",
    arch: str = "",
    hypervisor: str = "",
    format: str = "",
    vo: str = "",
) -> Response:
    viewer(request, session)
    filters = Filters(q=q.strip(), os=os, arch=arch, hypervisor=hypervisor, format=format, vo=vo)
    entries, facets = catalogue(session, filters)
    template = "catalogue_results.html" if request.headers.get("hx-request") else "catalogue.html"
    return render(request, template, entries=entries, facets=facets, filters=filters)


@router.get("/appliances/new")
def new_appliance_page(request: Request, session: DbSession) -> Response:
    if viewer(request, session) is None:
        return RedirectResponse("/login?next=/appliances/new", status_code=303)
    return render(request, "appliance_new.html")


@router.post("/appliances/new")
def new_appliance(
    request: Request,
    session: DbSession,
    slug: Field,
    title: Field,
    description: Annotated[str, Form()] = "",
) -> Response:
    caller = caller_of(viewer(request, session))
    return perform(
        request,
        session,
        lambda: create_appliance(
            session, caller, ApplianceCreate(slug=slug, title=title, description=description)
        ),
        back="/appliances/new",
        done=lambda appliance: f"/appliances/{appliance.slug}",
        notice=f"Appliance {slug} registered.",
    )


@router.get("/appliances/{slug}")
def appliance_page(request: Request, session: DbSession, slug: str) -> Response:
    me = viewer(request, session)
    try:
        appliance = get_appliance(session, slug)
    except MarketError as exc:
        return render(request, "message.html", status_code=404, error=str(exc))
    permission = member_permission(session, appliance, me.person_id) if me else None
    versions = list(reversed(appliance.versions))
    if permission is None:
        versions = [v for v in versions if v.state in ("published", "archived")]
    published = next((v for v in appliance.versions if v.state == "published"), None)
    vos = session.scalars(
        select(Vo)
        .join(VoList, VoList.vo_id == Vo.id)
        .join(VoListEntry, VoListEntry.vo_list_id == VoList.id)
        .where(
            VoList.state == "published",
            VoListEntry.appliance_id == appliance.id,
            Vo.gated.is_(False),  # a gated list's entries are not public
        )
        .order_by(Vo.name)
        .distinct()
    ).all()
    objects = [f"appliance:{appliance.slug}"] + [f"version:{v.id}" for v in appliance.versions]
    return render(
        request,
        "appliance.html",
        appliance=appliance,
        members=list_members(session, appliance),
        permission=permission,
        versions=versions,
        published=published,
        vos=vos,
        audit=audit_rows(session, *objects),
        list_url=f"{web(request).settings.public_base_url}/store/vappliance/{appliance.slug}"
        "/image.list",
    )


@router.post("/appliances/{slug}/versions")
def new_version(
    request: Request,
    session: DbSession,
    slug: str,
    version: Field,
    expires_in_months: Annotated[int, Form()] = 12,
    notes: Annotated[str, Form()] = "",
    clone: Annotated[bool, Form()] = False,
) -> Response:
    caller = caller_of(viewer(request, session))
    settings = web(request).settings

    def act() -> ApplianceVersion:
        appliance = get_appliance(session, slug)
        spec = VersionCreate(
            version=version,
            notes=notes,
            expires_in_months=expires_in_months,  # type: ignore[arg-type]
            clone=clone,
        )
        return create_version(session, caller, appliance, spec, settings)

    return perform(
        request,
        session,
        act,
        back=f"/appliances/{slug}",
        done=lambda created: f"/versions/{created.id}",
        notice=f"Version {version} created.",
    )


@router.get("/me")
def me_page(request: Request, session: DbSession) -> Response:
    me = viewer(request, session)
    if me is None:
        return RedirectResponse("/login?next=/me", status_code=303)
    return _me(request, session, me.person_id)


def _me(request: Request, session: DbSession, person_id: int, **extra: object) -> Response:
    identities = session.scalars(
        select(Identity).where(Identity.person_id == person_id).order_by(Identity.id)
    ).all()
    return render(
        request,
        "me.html",
        identities=identities,
        tokens=list_tokens(session, person_id),
        audit=audit_rows(session, f"person:{person_id}"),
        max_days=web(request).settings.token_max_days,
        **extra,  # type: ignore[arg-type]
    )


@router.post("/me/tokens")
def new_token(
    request: Request,
    session: DbSession,
    name: Field,
    days: Annotated[int, Form()] = 90,
) -> Response:
    me = viewer(request, session)
    if me is None:
        return RedirectResponse("/login?next=/me", status_code=303)
    settings = web(request).settings
    try:
        token, secret = create_token(
            session,
            caller_of(me),
            me.person_id,
            name.strip(),
            ["market:write"],
            days=days,
            max_days=settings.token_max_days,
        )
        session.commit()
    except MarketError as exc:
        session.rollback()
        flash(request, "error", str(exc))
        return RedirectResponse("/me", status_code=303)
    # The secret is in this response only: it is stored as a hash and never shown again.
    return _me(request, session, me.person_id, new_token=token, secret=secret)


@router.post("/me/tokens/{token_id}/revoke")
def revoke(request: Request, session: DbSession, token_id: int) -> Response:
    me = viewer(request, session)
    if me is None:
        return RedirectResponse("/login?next=/me", status_code=303)
    return perform(
        request,
        session,
        lambda: revoke_token(session, caller_of(me), token_id, person_id=me.person_id),
        back="/me",
        done="/me",
        notice="Token revoked.",
    )
