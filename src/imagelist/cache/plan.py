"""What the cache should hold: the wanted images (from the database) and the plan (pure).

An image is *wanted* when it is subscribed (``ImageDefinition.cache == 1``) and available, with
exactly the predicate ``vmcatcher_image`` shows as state bit 2
(:func:`imagelist.subscriber.images.available`): its latest description is in its
subscription's latest list, that list has not expired (D7: the subscriber marks it) and the
subscription is authorised. :func:`plan_expiry` and :func:`plan_downloads` compare that with the
cache index and take no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..companions import stored_payload
from ..db.subscriber import db_reason
from ..db.subscriber.models import (
    ImageDefinition,
    ImageInstance,
    ImageListInstance,
    Subscription,
)
from ..document import ImageList, is_safe_identifier
from ..errors import DatabaseError, ImageListError
from ..subscriber.images import available

__all__ = [
    "Expiry",
    "StoredList",
    "WantedImage",
    "entry_sha512",
    "entry_size",
    "image_metadata",
    "list_messages",
    "plan_downloads",
    "plan_expiry",
    "read_stored_list",
    "wanted_images",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WantedImage:
    """An image the cache must hold, as its latest list describes it."""

    identifier: str
    subscription: str
    sha512: str
    size: int
    uri: str
    title: str
    description: str
    version: str
    hypervisor: str
    arch: str
    comments: str
    os: str
    osversion: str
    list_id: int
    msg_hash: str
    #: Where the subscription's list is read from: only a ``file:`` list may name ``file:`` images.
    list_url: str = ""


@dataclass(frozen=True)
class Expiry:
    """A cached image to retire, and why."""

    key: str
    reason: str


def wanted_images(engine: Engine) -> dict[str, WantedImage]:
    """Subscribed and available images by id, in database order."""
    query = (
        select(
            ImageDefinition.identifier,
            Subscription.identifier.label("subscription"),
            Subscription.uri,
            ImageInstance,
            ImageListInstance.data_hash,
        )
        .join(Subscription, Subscription.id == ImageDefinition.subscription_id)
        .outerjoin(ImageInstance, ImageInstance.id == ImageDefinition.latest)
        .outerjoin(ImageListInstance, ImageListInstance.id == ImageInstance.list_instance_id)
        .where(ImageDefinition.cache == 1)
        .where(available())
        .order_by(ImageDefinition.id)
    )
    wanted: dict[str, WantedImage] = {}
    try:
        with Session(engine) as session:
            for identifier, subscription, list_url, instance, data_hash in session.execute(query):
                if not is_safe_identifier(identifier):
                    logger.error("image id %r is not a safe file name; not cached", identifier)
                    continue
                wanted[identifier] = WantedImage(
                    identifier=identifier,
                    subscription=subscription,
                    sha512=instance.sha512,
                    size=int(instance.size),
                    uri=instance.uri,
                    title=instance.title,
                    description=instance.description,
                    version=instance.version,
                    hypervisor=instance.hypervisor,
                    arch=instance.arch or "",
                    comments=instance.comments or "",
                    os=instance.os or "",
                    osversion=instance.osversion or "",
                    list_id=instance.list_instance_id,
                    msg_hash=data_hash,
                    list_url=list_url,
                )
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read the image selections: {db_reason(exc)}") from None
    return wanted


def list_messages(engine: Engine, list_ids: Iterable[int]) -> dict[int, bytes]:
    """The stored signed lists (``imageListInstance.data``) by id."""
    ids = sorted(set(list_ids))
    if not ids:
        return {}
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(ImageListInstance.id, ImageListInstance.data).where(
                    ImageListInstance.id.in_(ids)
                )
            )
            return {list_id: bytes(data) for list_id, data in rows}
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read the stored lists: {db_reason(exc)}") from None


@dataclass(frozen=True)
class StoredList:
    """A stored signed list as the index needs it: its text and its images' JSON objects."""

    text: str
    images: Mapping[str, Mapping[str, Any]]
    vo: str | None


def read_stored_list(message: bytes) -> StoredList:
    """Decode a stored signed list (not verified again: the subscriber did, at import).

    The text is shared by the index entries of all the list's images (one copy in memory).
    """
    text = message.decode("utf-8", errors="replace")
    try:
        imagelist = ImageList.from_bytes(stored_payload(message))
    except ImageListError as exc:
        logger.warning("a stored list cannot be read again (%s); hv:image.* keys left out", exc)
        return StoredList(text, {}, None)
    images = {image.identifier: image.to_dict() for image in imagelist.images}
    return StoredList(text, images, imagelist.vo)


def image_metadata(wanted: WantedImage, stored: StoredList | None) -> dict[str, Any]:
    """The index entry of an image (vmcatcher 0.6's keys; reference §2.6), without filename."""
    details: dict[str, Any] = {
        "dc:identifier": wanted.identifier,
        "dc:title": wanted.title,
        "dc:description": wanted.description,
        "hv:uri": wanted.uri,
        "hv:size": wanted.size,
        "sl:checksum:sha512": wanted.sha512,
        "hv:version": wanted.version,
        "hv:hypervisor": wanted.hypervisor,
        "sl:arch": wanted.arch,
        "sl:comments": wanted.comments,
        "sl:os": wanted.os,
        "sl:osversion": wanted.osversion,
        "hv:imagelist.dc:identifier": wanted.subscription,
        "message": "" if stored is None else stored.text,
        "msgHash": wanted.msg_hash,
        "uuid": wanted.identifier,
        "sha512": wanted.sha512,
        "uri": wanted.uri,
        "size": wanted.size,
    }
    if stored is not None:
        if stored.vo:
            details["hv:imagelist.ad:vo"] = stored.vo
        for key, value in stored.images.get(wanted.identifier, {}).items():
            details[f"hv:image.{key}"] = value
    return details


def entry_sha512(entry: Mapping[str, Any]) -> str:
    """The sha512 an index entry records (modern key, else legacy)."""
    return str(entry.get("sl:checksum:sha512", entry.get("sha512", "")))


def entry_size(entry: Mapping[str, Any]) -> int | None:
    """The size an index entry records, or None."""
    value = entry.get("hv:size", entry.get("size"))
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def plan_expiry(
    entries: Mapping[str, Mapping[str, Any]], wanted: Mapping[str, WantedImage]
) -> list[Expiry]:
    """Cached entries to retire at once: revoked (not subscribed or not available any more).

    An image removed from its list, a list that expired, an unsubscribed image: a security
    decision, so at once. A new version of a cached image is not here: the old one stays in
    service until the new one is downloaded and verified (see :func:`plan_downloads`).
    """
    return [
        Expiry(key, "not subscribed or no longer available") for key in entries if key not in wanted
    ]


def _current(entry: Mapping[str, Any], image: WantedImage) -> bool:
    return entry_sha512(entry) == image.sha512 and entry_size(entry) == image.size


def plan_downloads(
    entries: Mapping[str, Mapping[str, Any]], wanted: Mapping[str, WantedImage]
) -> list[WantedImage]:
    """Wanted images the cache does not hold in that version (sha512 and size), database order.

    Those with an older version cached are replaced when their download is verified.
    """
    return [
        image
        for key, image in wanted.items()
        if key not in entries or not _current(entries[key], image)
    ]
