"""The browsing pages: catalogue, appliance, VOs, "me". Readable without JavaScript."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .catalogue import Filters, catalogue
from .context import DbSession, render
from .identity import session_user
from .sessions import check_csrf

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(check_csrf)])


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
    request.state.me = session_user(request, session)
    filters = Filters(q=q.strip(), os=os, arch=arch, hypervisor=hypervisor, format=format, vo=vo)
    entries, facets = catalogue(session, filters)
    template = "catalogue_results.html" if request.headers.get("hx-request") else "catalogue.html"
    return render(request, template, entries=entries, facets=facets, filters=filters)


@router.get("/me")
def me_page(request: Request, session: DbSession) -> Response:
    me = session_user(request, session)
    request.state.me = me
    if me is None:
        return render(
            request,
            "login.html",
            status_code=401,
            identity=None,
            known=None,
            register=False,
            next="/me",
            error="Log in to see your page.",
        )
    return render(request, "me.html")
