"""The images of a version: add, change, remove (``/api/v1/versions/{id}/images``).

An instance belongs to a logical image of the appliance (stable uuid across versions): an
existing one named by its uuid, or a new one created from a title. Any change sends a verified
or failed version back to draft, and the changed image back to ``pending``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.market.models import ApplianceVersion, Image, ImageInstance
from ..errors import MarketConflictError, MarketInputError, MarketNotFoundError
from .common import Caller, audit, require_member
from .schemas import InstanceCreate, InstanceUpdate
from .versions import new_instance, require_editable

__all__ = ["add_instance", "delete_instance", "get_instance", "logical_image", "update_instance"]


def _back_to_draft(version: ApplianceVersion) -> None:
    if version.state in ("verified", "failed"):
        version.state = "draft"


def logical_image(
    session: Session,
    version: ApplianceVersion,
    image_uuid: str | None,
    title: str | None,
    description: str = "",
    group: str = "General group",
) -> Image:
    """The appliance's logical image ``image_uuid``, or a new one called ``title``."""
    appliance = version.appliance
    if image_uuid is not None:
        image = session.scalars(select(Image).where(Image.uuid == image_uuid)).first()
        if image is None:
            if title is None:
                raise MarketNotFoundError(f"no image {image_uuid} in appliance {appliance.slug!r}")
        elif image.appliance_id != appliance.id:
            raise MarketConflictError(f"image {image_uuid} belongs to another appliance")
        else:
            return image
    if title is None:
        raise MarketInputError("an image needs 'image' (an existing image's uuid) or 'title'")
    taken = session.scalars(
        select(Image).where(Image.appliance_id == appliance.id, Image.title == title)
    ).first()
    if taken is not None:
        if image_uuid is None:
            return taken
        raise MarketConflictError(f"appliance {appliance.slug!r} already has an image {title!r}")
    image = Image(
        appliance_id=appliance.id,
        uuid=image_uuid or str(uuid.uuid4()),
        title=title,
        description=description,
        group_name=group,
    )
    session.add(image)
    session.flush()
    return image


def add_instance(
    session: Session, caller: Caller, version: ApplianceVersion, spec: InstanceCreate
) -> ImageInstance:
    """Add an image to a version (one instance per logical image and version)."""
    require_member(session, caller, version.appliance)
    require_editable(version)
    image = logical_image(session, version, spec.image, spec.title, spec.description, spec.group)
    if any(instance.image_id == image.id for instance in version.instances):
        raise MarketConflictError(f"version {version.version} already has image {image.title!r}")
    fields = spec.model_dump(exclude={"image", "title", "description", "group"})
    instance = new_instance(version, image.id, fields)
    session.add(instance)
    version.instances.append(instance)
    _back_to_draft(version)
    session.flush()
    audit(session, caller, "image.add", f"version:{version.id}", image=image.uuid, uri=spec.uri)
    return instance


def get_instance(version: ApplianceVersion, instance_id: int) -> ImageInstance:
    """The version's instance ``instance_id`` (404 otherwise)."""
    for instance in version.instances:
        if instance.id == instance_id:
            return instance
    raise MarketNotFoundError(f"version {version.id} has no image {instance_id}")


def update_instance(
    session: Session,
    caller: Caller,
    version: ApplianceVersion,
    instance_id: int,
    spec: InstanceUpdate,
) -> ImageInstance:
    """Change an image's fields; it must be checked again."""
    require_member(session, caller, version.appliance)
    require_editable(version)
    instance = get_instance(version, instance_id)
    changed = spec.model_dump(exclude_unset=True)
    nulls = [key for key, value in changed.items() if value is None]
    if nulls:
        raise MarketInputError(f"{nulls[0]} cannot be null")
    for key, value in changed.items():
        setattr(instance, key, value)
    instance.integrity_state = "pending"
    instance.integrity_message = None
    instance.checked_at = None
    _back_to_draft(version)
    session.flush()
    audit(session, caller, "image.update", f"version:{version.id}", image=instance.id)
    return instance


def delete_instance(
    session: Session, caller: Caller, version: ApplianceVersion, instance_id: int
) -> None:
    """Remove an image from a version."""
    require_member(session, caller, version.appliance)
    require_editable(version)
    instance = get_instance(version, instance_id)
    version.instances.remove(instance)
    session.delete(instance)
    _back_to_draft(version)
    session.flush()
    audit(session, caller, "image.remove", f"version:{version.id}", image=instance_id)
