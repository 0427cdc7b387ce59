"""The version editor: images (add, edit, remove), Verify, Verify & Publish, the integrity
progress fragment (polled by HTMX every 2 s while a check runs), publish, archive, cancel.

Only owners and maintainers of the appliance see the controls; every change goes through the
market's service functions (:mod:`imagelist.market.instances`, ``.jobs``, ``.versions``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from ...db.market.models import ApplianceVersion
from ...errors import MarketError
from ..common import get_version, member_permission
from ..instances import add_instance, delete_instance, get_instance, update_instance
from ..jobs import cancel_check, latest_job, start_check
from ..schemas import InstanceCreate, InstanceUpdate
from ..versions import EDITABLE_STATES, archive_version, publish_version
from ..vocab import VOCABULARIES
from .actions import audit_rows, caller_of, perform, viewer
from .context import DbSession, render, web
from .sessions import check_csrf

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(check_csrf)])
Field = Annotated[str, Form()]
Optional = Annotated[str, Form()]


def _version(session: Session, version_id: int) -> ApplianceVersion | None:
    try:
        return get_version(session, version_id)
    except MarketError:
        return None


@router.get("/versions/{version_id}")
def version_page(request: Request, session: DbSession, version_id: int) -> Response:
    me = viewer(request, session)
    version = _version(session, version_id)
    if version is None:
        return render(request, "message.html", status_code=404, error="no such version")
    permission = member_permission(session, version.appliance, me.person_id) if me else None
    if permission is None and version.state not in ("published", "archived"):
        return render(request, "message.html", status_code=404, error="no such version")
    return render(
        request,
        "version.html",
        version=version,
        appliance=version.appliance,
        permission=permission,
        editable=permission is not None and version.state in EDITABLE_STATES,
        job=latest_job(session, version),
        vocab=VOCABULARIES,
        audit=audit_rows(session, f"version:{version.id}"),
    )


@router.get("/versions/{version_id}/integrity")
def integrity_fragment(request: Request, session: DbSession, version_id: int) -> Response:
    """The progress of the version's check (an HTMX fragment, or a page without JavaScript)."""
    me = viewer(request, session)
    version = _version(session, version_id)
    if version is None:
        return render(request, "message.html", status_code=404, error="no such version")
    permission = member_permission(session, version.appliance, me.person_id) if me else None
    values: dict[str, Any] = {"version": version, "job": latest_job(session, version)}
    if request.headers.get("hx-request"):
        response = render(request, "_integrity.html", **values, permission=permission)
        if version.state != "verifying":
            response.headers["HX-Refresh"] = "true"  # the check ended: reload the whole page
        return response
    return RedirectResponse(f"/versions/{version_id}", status_code=303)


def _instance_fields(form: dict[str, str]) -> dict[str, Any]:
    """The image form's fields as the service's schema wants them (empty means unset)."""
    values: dict[str, Any] = {}
    for key, raw in form.items():
        text = raw.strip()
        if not text:
            continue
        if key in ("size", "cores_min", "cores_rec", "ram_min", "ram_rec"):
            values[key] = text  # pydantic converts and checks
        elif key == "hypervisors":
            values[key] = [part.strip() for part in text.split(",") if part.strip()]
        elif key == "autocheck":
            values[key] = text == "true"
        else:
            values[key] = text
    return values


_IMAGE_FIELDS = (
    "title",
    "uri",
    "format",
    "hypervisors",
    "arch",
    "os_family",
    "os_name",
    "os_version",
    "size",
    "sha512",
    "cores_min",
    "cores_rec",
    "ram_min",
    "ram_rec",
    "comments",
    "autocheck",
)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(form.get(k, "")) for k in _IMAGE_FIELDS if isinstance(form.get(k, ""), str)}


@router.post("/versions/{version_id}/images")
async def new_image(request: Request, session: DbSession, version_id: int) -> Response:
    caller = caller_of(viewer(request, session))
    fields = _instance_fields(await _form(request))
    fields.setdefault("autocheck", False)

    def act() -> object:
        return add_instance(
            session, caller, get_version(session, version_id), InstanceCreate(**fields)
        )

    page = f"/versions/{version_id}"
    return perform(request, session, act, back=page, done=page, notice="Image added.")


@router.get("/versions/{version_id}/images/{instance_id}")
def image_page(request: Request, session: DbSession, version_id: int, instance_id: int) -> Response:
    me = viewer(request, session)
    version = _version(session, version_id)
    if version is None or me is None:
        return render(request, "message.html", status_code=404, error="no such image")
    if member_permission(session, version.appliance, me.person_id) is None:
        return render(request, "message.html", status_code=404, error="no such image")
    try:
        instance = get_instance(version, instance_id)
    except MarketError as exc:
        return render(request, "message.html", status_code=404, error=str(exc))
    return render(
        request,
        "image_edit.html",
        version=version,
        instance=instance,
        vocab=VOCABULARIES,
    )


@router.post("/versions/{version_id}/images/{instance_id}")
async def edit_image(
    request: Request, session: DbSession, version_id: int, instance_id: int
) -> Response:
    caller = caller_of(viewer(request, session))
    fields = _instance_fields(await _form(request))
    fields.pop("title", None)
    fields.setdefault("autocheck", False)

    def act() -> object:
        version = get_version(session, version_id)
        return update_instance(session, caller, version, instance_id, InstanceUpdate(**fields))

    return perform(
        request,
        session,
        act,
        back=f"/versions/{version_id}/images/{instance_id}",
        done=f"/versions/{version_id}",
        notice="Image changed; it must be verified again.",
    )


@router.post("/versions/{version_id}/images/{instance_id}/remove")
def remove_image(
    request: Request, session: DbSession, version_id: int, instance_id: int
) -> Response:
    caller = caller_of(viewer(request, session))
    page = f"/versions/{version_id}"
    return perform(
        request,
        session,
        lambda: delete_instance(session, caller, get_version(session, version_id), instance_id),
        back=page,
        done=page,
        notice="Image removed.",
    )


@router.post("/versions/{version_id}/verify")
def verify(
    request: Request, session: DbSession, version_id: int, publish: Optional = ""
) -> Response:
    caller = caller_of(viewer(request, session))
    page = f"/versions/{version_id}"
    response = perform(
        request,
        session,
        lambda: start_check(
            session, caller, get_version(session, version_id), publish=publish == "true"
        ),
        back=page,
        done=page,
        notice="Check started." + (" The version is published when it passes." if publish else ""),
    )
    wake = getattr(request.app.state, "runner_wake", None)
    if callable(wake):
        wake()
    return response


@router.post("/versions/{version_id}/cancel")
def cancel(request: Request, session: DbSession, version_id: int) -> Response:
    caller = caller_of(viewer(request, session))
    page = f"/versions/{version_id}"
    return perform(
        request,
        session,
        lambda: cancel_check(session, caller, get_version(session, version_id)),
        back=page,
        done=page,
        notice="Check cancelled.",
    )


@router.post("/versions/{version_id}/publish")
def publish(request: Request, session: DbSession, version_id: int) -> Response:
    caller = caller_of(viewer(request, session))
    settings = web(request).settings
    page = f"/versions/{version_id}"
    return perform(
        request,
        session,
        lambda: publish_version(session, caller, get_version(session, version_id), settings),
        back=page,
        done=page,
        notice="Version published.",
    )


@router.post("/versions/{version_id}/archive")
def archive(request: Request, session: DbSession, version_id: int) -> Response:
    caller = caller_of(viewer(request, session))
    page = f"/versions/{version_id}"
    return perform(
        request,
        session,
        lambda: archive_version(session, caller, get_version(session, version_id)),
        back=page,
        done=page,
        notice="Version archived.",
    )
