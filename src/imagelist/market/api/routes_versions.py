"""``/api/v1/versions``: one version, its images, integrity check, publish and archive."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from ...db.market.models import ImageInstance
from ...errors import MarketNotFoundError
from ..common import get_version
from ..instances import add_instance, delete_instance, update_instance
from ..jobs import cancel_check, latest_job, start_check
from ..schemas import InstanceCreate, InstanceUpdate, IntegrityStart, VersionUpdate
from ..settings import MarketSettings
from ..versions import archive_version, delete_version, publish_version, update_version
from .deps import CallerDep, SessionDep, get_settings
from .views import instance_view, job_view, version_view

router = APIRouter(prefix="/versions", tags=["versions"])
SettingsDep = Annotated[MarketSettings, Depends(get_settings)]


@router.get("/{version_id}")
def version(version_id: int, session: SessionDep) -> dict[str, Any]:
    """A version and its images (with their integrity state)."""
    return version_view(get_version(session, version_id))


@router.patch("/{version_id}")
def change_version(
    version_id: int,
    spec: VersionUpdate,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Change the name, notes or expiry of a draft, verified or failed version."""
    found = get_version(session, version_id)
    return version_view(update_version(session, caller, found, spec, settings))


@router.delete("/{version_id}", status_code=204)
def drop_version(version_id: int, session: SessionDep, caller: CallerDep) -> None:
    """Delete a version that was never published."""
    delete_version(session, caller, get_version(session, version_id))


@router.get("/{version_id}/endorsed")
def endorsed_list(version_id: int, session: SessionDep) -> Response:
    """The endorser-signed list the version was imported from (provenance), byte for byte."""
    found = get_version(session, version_id)
    if found.endorsed_list is None:
        raise MarketNotFoundError(f"version {version_id} was not imported from a signed list")
    return Response(
        found.endorsed_list,
        media_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="image.list"'},
    )


@router.post("/{version_id}/images", status_code=201)
def new_image(
    version_id: int, spec: InstanceCreate, session: SessionDep, caller: CallerDep
) -> dict[str, Any]:
    """Add an image (an existing logical image by uuid, or a new one by title)."""
    instance = add_instance(session, caller, get_version(session, version_id), spec)
    return instance_view(instance)


@router.patch("/{version_id}/images/{instance_id}")
def change_image(
    version_id: int,
    instance_id: int,
    spec: InstanceUpdate,
    session: SessionDep,
    caller: CallerDep,
) -> dict[str, Any]:
    """Change an image; it must be checked again."""
    found = get_version(session, version_id)
    instance: ImageInstance = update_instance(session, caller, found, instance_id, spec)
    return instance_view(instance)


@router.delete("/{version_id}/images/{instance_id}", status_code=204)
def drop_image(version_id: int, instance_id: int, session: SessionDep, caller: CallerDep) -> None:
    """Remove an image from the version."""
    delete_instance(session, caller, get_version(session, version_id), instance_id)


@router.post("/{version_id}/integrity", status_code=202)
def check(
    version_id: int,
    session: SessionDep,
    caller: CallerDep,
    request: Request,
    spec: Annotated[IntegrityStart | None, Body()] = None,
) -> dict[str, Any]:
    """Start the integrity check of every image (``{"publish": true}``: then publish)."""
    found = get_version(session, version_id)
    job = start_check(session, caller, found, publish=bool(spec and spec.publish))
    session.commit()
    request.app.state.runner_wake()
    return job_view(job)


@router.get("/{version_id}/integrity")
def check_status(version_id: int, session: SessionDep) -> dict[str, Any]:
    """The newest check and every image's state."""
    found = get_version(session, version_id)
    job = latest_job(session, found)
    return {
        "version": found.id,
        "state": found.state,
        "job": None if job is None else job_view(job),
        "images": [
            {
                "id": i.id,
                "uri": i.uri,
                "integrity_state": i.integrity_state,
                "integrity_message": i.integrity_message,
                "checked_at": None
                if i.checked_at is None
                else f"{i.checked_at:%Y-%m-%dT%H:%M:%SZ}",
            }
            for i in found.instances
        ],
    }


@router.delete("/{version_id}/integrity")
def cancel(version_id: int, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """Cancel the check in progress."""
    return job_view(cancel_check(session, caller, get_version(session, version_id)))


@router.post("/{version_id}/publish")
def publish(
    version_id: int, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> dict[str, Any]:
    """Publish a verified version (the previous one is archived) and sign the appliance list."""
    found = get_version(session, version_id)
    return version_view(publish_version(session, caller, found, settings))


@router.post("/{version_id}/archive")
def archive(version_id: int, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """Archive the published version."""
    found = get_version(session, version_id)
    archive_version(session, caller, found)
    return version_view(found)
