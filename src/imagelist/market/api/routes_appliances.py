"""``/api/v1/appliances``: appliances, members, versions, and the import of signed lists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ...db.market.models import ApplianceVersion
from ..appliances import (
    add_member,
    create_appliance,
    list_appliances,
    list_members,
    remove_member,
    update_appliance,
)
from ..common import get_appliance
from ..importing import import_signed_list
from ..schemas import ApplianceCreate, ApplianceUpdate, MemberAdd, VersionCreate
from ..settings import MarketSettings
from ..versions import create_version
from .deps import CallerDep, SessionDep, get_settings
from .views import appliance_view, member_view, version_view

router = APIRouter(prefix="/appliances", tags=["appliances"])
SettingsDep = Annotated[MarketSettings, Depends(get_settings)]


@router.get("")
def appliances(session: SessionDep) -> list[dict[str, Any]]:
    """Every appliance."""
    return [appliance_view(a) for a in list_appliances(session)]


@router.post("", status_code=201)
def new_appliance(
    spec: ApplianceCreate, session: SessionDep, caller: CallerDep, response: Response
) -> dict[str, Any]:
    """Register an appliance; the caller becomes its owner."""
    appliance = create_appliance(session, caller, spec)
    response.headers["Location"] = f"/api/v1/appliances/{appliance.slug}"
    return appliance_view(appliance)


@router.get("/{slug}")
def appliance(slug: str, session: SessionDep) -> dict[str, Any]:
    """One appliance, its logical images and versions."""
    return appliance_view(get_appliance(session, slug), full=True)


@router.patch("/{slug}")
def change_appliance(
    slug: str, spec: ApplianceUpdate, session: SessionDep, caller: CallerDep
) -> dict[str, Any]:
    """Change the title or description (owner or maintainer)."""
    return appliance_view(update_appliance(session, caller, get_appliance(session, slug), spec))


@router.get("/{slug}/members")
def members(slug: str, session: SessionDep) -> list[dict[str, Any]]:
    """Owners and maintainers."""
    return [member_view(m) for m in list_members(session, get_appliance(session, slug))]


@router.post("/{slug}/members", status_code=201)
def new_member(
    slug: str, spec: MemberAdd, session: SessionDep, caller: CallerDep
) -> dict[str, Any]:
    """Add an owner or maintainer (owners only)."""
    member = add_member(session, caller, get_appliance(session, slug), spec)
    session.refresh(member)
    return member_view(member)


@router.delete("/{slug}/members/{person_id}", status_code=204)
def drop_member(slug: str, person_id: int, session: SessionDep, caller: CallerDep) -> None:
    """Remove a member (owners only; never the last owner)."""
    remove_member(session, caller, get_appliance(session, slug), person_id)


@router.get("/{slug}/versions")
def versions(slug: str, session: SessionDep) -> list[dict[str, Any]]:
    """The appliance's versions, oldest first."""
    return [version_view(v) for v in get_appliance(session, slug).versions]


@router.post("/{slug}/versions", status_code=201)
def new_version(
    slug: str,
    spec: VersionCreate,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    """A new draft version (by default with the published version's images)."""
    version = create_version(session, caller, get_appliance(session, slug), spec, settings)
    session.refresh(version)
    response.headers["Location"] = f"/api/v1/versions/{version.id}"
    return version_view(version)


def _import(
    session: SessionDep,
    caller: CallerDep,
    settings: MarketSettings,
    slug: str,
    data: bytes,
    verify: bool,
) -> ApplianceVersion:
    appliance = get_appliance(session, slug)
    return import_signed_list(session, caller, appliance, data, settings, verify=verify)


@router.post(
    "/{slug}/versions/import",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            "description": "the endorser-signed list (S/MIME), as vmcaster writes it",
        }
    },
)
async def import_version(
    slug: str,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    response: Response,
    verify: Annotated[bool, Query(description="start the integrity check at once")] = False,
) -> dict[str, Any]:
    """Import a vmcaster-signed list as a new version of the appliance."""
    data = await request.body()
    version = await run_in_threadpool(_import, session, caller, settings, slug, data, verify)
    if verify:
        request.app.state.runner_wake()
    url = f"/api/v1/versions/{version.id}"
    response.headers["Location"] = url
    return {
        "id": version.id,
        "appliance": slug,
        "version": version.version,
        "state": version.state,
        "url": url,
    }
