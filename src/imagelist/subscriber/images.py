"""Image selections: the state bitmap, details, and subscribing images for the cache.

An image's state (``vmcatcher_image -l``) is a bitmap: bit 0 (1) = subscribed (``cache``), bit 1
(2) = available, meaning its latest description belongs to the subscription's latest list, that
list is not expired, and the subscription is authorised. ``vmcatcher_cache`` downloads images in
state 3 and retires the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Engine, Select, and_, select, update
from sqlalchemy.orm import Session

from ..db.engine import transaction
from ..db.subscriber.models import (
    EndorserPrincipal,
    ImageDefinition,
    ImageInstance,
    ImageListInstance,
    Subscription,
    SubscriptionAuth,
)
from ..errors import SelectionError
from .records import ImageDetails, ImageRecord, ImageState, ListRecord, SubscriptionRecord

__all__ = [
    "available",
    "image_details",
    "image_states",
    "select_images",
    "set_cache",
]

logger = logging.getLogger(__name__)


def available() -> ColumnElement[bool]:
    """SQL for "available" (state bit 1), over ImageDefinition joined to its Subscription, to its
    ``latest`` ImageInstance and to that instance's ImageListInstance (outer joins).

    ``vmcatcher_cache`` must use the same predicate to decide what stays cached.
    """
    return and_(
        Subscription.authorised.is_(True),
        ImageInstance.id.is_not(None),
        ImageInstance.list_instance_id == Subscription.imagelist_latest,
        ImageListInstance.expired.is_(None),
    )


def _state_query(
    subscription_id: int | None = None,
) -> Select[str, int, str, bool, str | None, str | None]:
    query = (
        select(
            ImageDefinition.identifier,
            ImageDefinition.cache,
            Subscription.identifier.label("subscription"),
            available().label("available"),
            ImageInstance.title,
            ImageInstance.version,
        )
        .join(Subscription, Subscription.id == ImageDefinition.subscription_id)
        .outerjoin(ImageInstance, ImageInstance.id == ImageDefinition.latest)
        .outerjoin(ImageListInstance, ImageListInstance.id == ImageInstance.list_instance_id)
        .order_by(ImageDefinition.id)
    )
    if subscription_id is not None:
        query = query.where(ImageDefinition.subscription_id == subscription_id)
    return query


def image_states(session: Session, subscription_id: int | None = None) -> list[ImageState]:
    """Every image definition with its state bitmap, in database order."""
    return [
        ImageState(
            row.identifier,
            (1 if row.cache else 0) + (2 if row.available else 0),
            row.subscription,
            row.title,
            row.version,
        )
        for row in session.execute(_state_query(subscription_id))
    ]


def select_images(
    session: Session, uuids: Sequence[str] = (), sha512s: Sequence[str] = ()
) -> list[ImageDefinition]:
    """Definitions by image id, or by the sha512 of any stored description; all must match."""
    found: list[ImageDefinition] = []
    for uuid in uuids:
        definition = session.scalars(
            select(ImageDefinition).where(ImageDefinition.identifier == uuid)
        ).first()
        if definition is None:
            raise SelectionError(f"no image {uuid!r} is known")
        found.append(definition)
    for sha512 in sha512s:
        definitions = list(
            session.scalars(
                select(ImageDefinition)
                .join(ImageInstance, ImageInstance.definition_id == ImageDefinition.id)
                .where(ImageInstance.sha512 == sha512.lower())
                .distinct()
            )
        )
        if not definitions:
            raise SelectionError(f"no image with sha512 {sha512[:16]}... is known")
        found.extend(definitions)
    return found


def set_cache(engine: Engine, uuids: Sequence[str], sha512s: Sequence[str], value: int) -> int:
    """Subscribe (1) or unsubscribe (0) images; returns how many definitions changed."""
    with transaction(engine) as session:
        definitions = select_images(session, uuids, sha512s)
        ids = [definition.id for definition in definitions]
        names = [definition.identifier for definition in definitions]
        session.execute(
            update(ImageDefinition).where(ImageDefinition.id.in_(ids)).values(cache=value)
        )
    for name in names:
        logger.info("image %s: cache=%d", name, value)
    return len(ids)


def image_details(session: Session, definition: ImageDefinition) -> ImageDetails:
    """An image with its subscription and, when available in the latest list, its description."""
    subscription = session.get_one(Subscription, definition.subscription_id)
    row = session.execute(
        select(ImageInstance, ImageListInstance)
        .join(ImageListInstance, ImageListInstance.id == ImageInstance.list_instance_id)
        .where(ImageInstance.definition_id == definition.id)
        .where(ImageListInstance.id == subscription.imagelist_latest)
    ).first()
    if row is None:
        logger.warning("image %s is not in its subscription's latest list", definition.identifier)
        return ImageDetails(
            definition.identifier, definition.cache, SubscriptionRecord.of(subscription), None, None
        )
    instance, list_instance = row
    principals = session.execute(
        select(EndorserPrincipal.hv_dn, EndorserPrincipal.hv_ca)
        .join(SubscriptionAuth, SubscriptionAuth.endorser_id == EndorserPrincipal.endorser_id)
        .where(SubscriptionAuth.id == list_instance.sub_auth)
        .order_by(EndorserPrincipal.id)
    )
    return ImageDetails(
        definition.identifier,
        definition.cache,
        SubscriptionRecord.of(subscription),
        ListRecord.of(list_instance),
        ImageRecord.of(instance),
        tuple((dn, ca) for dn, ca in principals),
    )
