"""Plain, read-only views of database rows, for the output formats (no session attached)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..db.subscriber.models import (
    ImageInstance,
    ImageListInstance,
    Subscription,
)

__all__ = [
    "TRUST_ANCHORS",
    "ImageDetails",
    "ImageRecord",
    "ImageState",
    "ListRecord",
    "SubscriptionDetails",
    "SubscriptionRecord",
]

#: ``subscription."trustAnchor"`` values as vmcatcher shows them.
TRUST_ANCHORS = ("None", "Browser", "IGTF")


@dataclass(frozen=True)
class SubscriptionRecord:
    """One subscription as the listings show it."""

    identifier: str
    description: str | None
    uri: str
    list_uri: str | None
    authorised: bool
    trust_anchor: int
    username: str | None
    has_password: bool
    update_mode: int
    updated: datetime | None
    #: smime | smime+openpgp | openpgp (ADR 21)
    signature_policy: str = "smime"

    @property
    def trust_anchor_name(self) -> str:
        """None, Browser or IGTF, as vmcatcher shows the stored value."""
        index = self.trust_anchor
        return TRUST_ANCHORS[index] if 0 <= index < len(TRUST_ANCHORS) else str(index)

    @classmethod
    def of(cls, row: Subscription) -> SubscriptionRecord:
        """From a database row."""
        return cls(
            identifier=row.identifier,
            description=row.description,
            uri=row.uri,
            list_uri=row.list_uri,
            authorised=bool(row.authorised),
            trust_anchor=row.trust_anchor,
            username=row.username,
            has_password=bool(row.password),
            update_mode=row.update_mode,
            updated=row.updated,
            signature_policy=row.signature_policy or "smime",
        )


@dataclass(frozen=True)
class ListRecord:
    """A stored list instance: its dates, version and the signed file."""

    imported: datetime
    created: datetime
    expires: datetime
    expired: datetime | None
    version: str
    data: bytes

    @classmethod
    def of(cls, row: ImageListInstance) -> ListRecord:
        """From a database row."""
        return cls(row.imported, row.created, row.expires, row.expired, row.version, row.data)


@dataclass(frozen=True)
class ImageRecord:
    """An image as a stored list instance describes it."""

    description: str
    title: str
    hypervisor: str
    size: int
    uri: str
    version: str
    arch: str | None
    sha512: str
    comments: str | None
    os: str | None
    osversion: str | None

    @classmethod
    def of(cls, row: ImageInstance) -> ImageRecord:
        """From a database row."""
        return cls(
            row.description,
            row.title,
            row.hypervisor,
            row.size,
            row.uri,
            row.version,
            row.arch,
            row.sha512,
            row.comments,
            row.os,
            row.osversion,
        )


@dataclass(frozen=True)
class ImageState:
    """One line of ``vmcatcher_image -l``: the state is cache (bit 0) + 2 × available (bit 1).

    ``title`` and ``version`` come from the image's latest stored description (None if none).
    """

    image: str
    state: int
    subscription: str
    title: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class SubscriptionDetails:
    """A subscription with its latest list (if any) and its images' states."""

    subscription: SubscriptionRecord
    latest: ListRecord | None
    images: tuple[ImageState, ...] = ()


@dataclass(frozen=True)
class ImageDetails:
    """An image: its definition, subscription and, if available, its current description."""

    identifier: str
    cache: int
    subscription: SubscriptionRecord
    latest: ListRecord | None
    image: ImageRecord | None
    principals: tuple[tuple[str, str], ...] = ()
