"""JSON shapes of the API's answers (plain dicts, times as ``YYYY-mm-ddTHH:MM:SSZ``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ...db.market.models import (
    AccessToken,
    Appliance,
    ApplianceMember,
    ApplianceVersion,
    ImageInstance,
    IntegrityJob,
    Person,
    Vo,
    VoList,
)
from ..common import now
from ..volists import diff, entry_flag

__all__ = [
    "appliance_view",
    "instance_view",
    "job_view",
    "member_view",
    "person_view",
    "time",
    "token_view",
    "version_view",
    "vo_list_view",
    "vo_view",
]


def time(value: datetime | None) -> str | None:
    """RFC 3339 UTC, whole seconds."""
    return None if value is None else f"{value:%Y-%m-%dT%H:%M:%SZ}"


def person_view(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "display_name": person.display_name,
        "identities": [
            {"id": i.id, "kind": i.kind, "subject": i.subject, "issuer": i.issuer}
            for i in person.identities
        ],
    }


def appliance_view(appliance: Appliance, *, full: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {
        "slug": appliance.slug,
        "uuid": appliance.uuid,
        "title": appliance.title,
        "description": appliance.description,
        "owner": appliance.owner_id,
        "created": time(appliance.created),
        "url": f"/api/v1/appliances/{appliance.slug}",
    }
    published = next((v for v in appliance.versions if v.state == "published"), None)
    result["published_version"] = None if published is None else published.version
    if full:
        result["images"] = [
            {
                "uuid": image.uuid,
                "title": image.title,
                "description": image.description,
                "group": image.group_name,
            }
            for image in appliance.images
        ]
        result["versions"] = [version_view(v, images=False) for v in appliance.versions]
    return result


def member_view(member: ApplianceMember) -> dict[str, Any]:
    return {
        "person_id": member.person_id,
        "display_name": member.person.display_name,
        "permission": member.permission,
    }


def instance_view(instance: ImageInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "uuid": instance.uuid,
        "image": instance.image.uuid,
        "title": instance.image.title,
        "group": instance.image.group_name,
        "uri": instance.uri,
        "format": instance.format,
        "hypervisors": list(instance.hypervisors),
        "arch": instance.arch,
        "os_family": instance.os_family,
        "os_name": instance.os_name,
        "os_version": instance.os_version,
        "size": instance.size,
        "sha512": instance.sha512,
        "image_version": instance.image_version,
        "cores_min": instance.cores_min,
        "cores_rec": instance.cores_rec,
        "ram_min": instance.ram_min,
        "ram_rec": instance.ram_rec,
        "comments": instance.comments,
        "autocheck": instance.autocheck,
        "integrity_state": instance.integrity_state,
        "integrity_message": instance.integrity_message,
        "checked_at": time(instance.checked_at),
    }


def version_view(version: ApplianceVersion, *, images: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": version.id,
        "appliance": version.appliance.slug,
        "version": version.version,
        "uuid": version.uuid,
        "state": version.state,
        "notes": version.notes,
        "expires_at": time(version.expires_at),
        "expired": version.expires_at <= now(),
        "created_at": time(version.created_at),
        "published_at": time(version.published_at),
        "archived_at": time(version.archived_at),
        "endorsed_by": version.endorsed_dn,
        "url": f"/api/v1/versions/{version.id}",
    }
    if version.endorsed_dn is not None:
        result["endorsed_list_url"] = f"/api/v1/versions/{version.id}/endorsed"
    if images:
        result["images"] = [instance_view(i) for i in version.instances]
    return result


def job_view(job: IntegrityJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "version": job.version_id,
        "state": job.state,
        "publish": job.publish_after,
        "cancel_requested": job.cancel_requested,
        "created": time(job.created),
        "started": time(job.started),
        "finished": time(job.finished),
        "bytes_read": job.bytes_read,
        "error": job.error,
        "url": f"/api/v1/versions/{job.version_id}/integrity",
    }


def vo_view(vo: Vo) -> dict[str, Any]:
    return {
        "name": vo.name,
        "description": vo.description,
        "gated": vo.gated,
        "url": f"/api/v1/vos/{vo.name}",
        "list_url": f"/store/vo/{vo.name}/image.list",
    }


def vo_list_view(
    session: Session, vo_list: VoList, published: VoList | None = None, *, draft: bool = False
) -> dict[str, Any]:
    current = now()
    entries = []
    for entry in vo_list.entries:
        version = entry.version
        entries.append(
            {
                "appliance": version.appliance.slug,
                "version": version.version,
                "version_id": version.id,
                "expires_at": time(version.expires_at),
                "flag": entry_flag(version, current),
            }
        )
    result: dict[str, Any] = {
        "vo": vo_list.vo.name,
        "uuid": vo_list.uuid,
        "state": vo_list.state,
        "hv_version": vo_list.hv_version,
        "published_at": time(vo_list.published_at),
        "expires_at": time(vo_list.expires_at),
        "entries": entries,
        "obsolete": any(e["flag"] is not None for e in entries),
    }
    if draft:
        result["diff"] = diff(vo_list, published)
    return result


def token_view(token: AccessToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "person_id": token.person_id,
        "scopes": list(token.scopes),
        "created": time(token.created),
        "expires_at": time(token.expires_at),
        "last_used": time(token.last_used),
        "revoked": token.revoked_at is not None,
    }
