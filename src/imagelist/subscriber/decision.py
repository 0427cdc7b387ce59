"""What the *decide* step of ``vmcatcher_subscribe -U`` works on and returns (pure data).

The inputs (:class:`SubscriptionState`, :class:`Policy`, and what the fetch and verify steps
produced: :class:`Received`, :class:`NotModified`, :class:`Failed`) and the result (a
:class:`Plan`, its :class:`Acceptance` and :class:`ImageChange` items). The rules that turn the
one into the other are in :mod:`.decide`, which re-exports these names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..document import Image, ImageList
from ..errors import ImageListError
from ..urls import redact_url
from ..verify import VerifiedList

if TYPE_CHECKING:  # a type only (pure data, ADR 21)
    from .oci_sources import SourceList
    from .openpgp_list import OpenPGPList

__all__ = [
    "ACCEPTED_KINDS",
    "UPDATE_MODE_ACCEPT",
    "UPDATE_MODE_SUBSCRIBE",
    "Acceptance",
    "ChangeKind",
    "Failed",
    "ImageChange",
    "KnownImage",
    "NotModified",
    "Outcome",
    "Plan",
    "Policy",
    "Received",
    "StoredList",
    "SubscriptionState",
    "normalise_uri",
]

#: ``updateMode`` bits: accept new image ids, and subscribe them (cache=1) as well.
UPDATE_MODE_ACCEPT = 1
UPDATE_MODE_SUBSCRIBE = 2


def normalise_uri(uri: str) -> str:
    """A list URI as stored and compared: surrounding space and credentials removed."""
    return redact_url(uri.strip())


@dataclass(frozen=True)
class StoredList:
    """The subscription's latest accepted list instance (without its bytes)."""

    id: int
    data_hash: str
    version: str
    expires: datetime
    expired: datetime | None = None
    #: image id → sha512 of the images this list instance holds (for change reports).
    images: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KnownImage:
    """An image id the database already knows, and which subscription owns it."""

    identifier: str
    definition_id: int
    subscription_id: int
    subscription: str
    cache: int = 0


@dataclass(frozen=True)
class SubscriptionState:
    """What the database says about one subscription, as far as deciding needs."""

    id: int
    identifier: str
    uri: str
    list_uri: str | None = None
    update_mode: int = 0
    #: (hv:dn, hv:ca) of each principal of each authorised linked endorser → the link's id.
    principals: Mapping[tuple[str, str], int] = field(default_factory=dict)
    latest: StoredList | None = None
    #: the definitions known for the image ids of the received list (any subscription).
    known_images: Mapping[str, KnownImage] = field(default_factory=dict)
    allow_rollback: bool = False
    reimport: bool = False
    etag: str | None = None
    last_modified: str | None = None

    def validators(self) -> tuple[str | None, str | None]:
        """The ETag and Last-Modified for a conditional GET: the accepted list's, or none when
        there is no accepted list yet or a re-import is asked for (the list is fetched whole)."""
        if self.latest is None or self.reimport:
            return None, None
        return self.etag, self.last_modified


@dataclass(frozen=True)
class Policy:
    """The admin's choices for one run."""

    #: Accept a list with the accepted version but other content, with a warning (as 0.6).
    allow_same_version: bool = False
    #: Follow a list whose hv:uri changed: fetch from the new place from now on.
    follow_uri: bool = False


@dataclass(frozen=True)
class Received:
    """A list that was retrieved and passed verification (reference §1.5 steps 1-6)."""

    verified: VerifiedList | OpenPGPList | SourceList
    data: bytes
    data_hash: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    #: policy ``smime+openpgp``: the link whose endorser's OpenPGP certificate signed the .json
    openpgp_link: int | None = None


@dataclass(frozen=True)
class NotModified:
    """The server answered 304 to the conditional GET: the accepted list is still current."""


@dataclass(frozen=True)
class Failed:
    """Retrieval or verification failed with a typed error."""

    error: ImageListError


class Outcome(enum.StrEnum):
    """What an update did to a subscription (the third field of the summary line)."""

    UPDATED = "updated"
    UNCHANGED = "unchanged"
    #: the list was refused: not valid, not trusted, or against a rule (the old tools' codes)
    REJECTED = "rejected"
    EXPIRED = "expired"
    #: the list could not be judged: unreachable server, database error, internal error
    FAILED = "failed"


class ChangeKind(enum.StrEnum):
    """What happens to one image id of a list."""

    NEW = "new"  # an id unknown to this site: a definition is created
    ADDED = "added"  # known to this subscription but not in its accepted list
    CHANGED = "changed"  # in the accepted list with another sha512
    UNCHANGED = "unchanged"
    REVOKED = "revoked"  # in the accepted list, not in this one
    REFUSED = "refused"  # new id refused by the new-image mode (32)
    CONFLICT = "conflict"  # owned by another subscription (15)


#: Kinds whose image becomes part of the new list instance.
ACCEPTED_KINDS = frozenset(
    {ChangeKind.NEW, ChangeKind.ADDED, ChangeKind.CHANGED, ChangeKind.UNCHANGED}
)


@dataclass(frozen=True)
class ImageChange:
    """What happens to one image id."""

    identifier: str
    kind: ChangeKind
    image: Image | None = None
    definition_id: int | None = None
    cache: int = 0
    owner: str | None = None

    def describe(self) -> str:
        """One line for the dry-run report."""
        if self.kind is ChangeKind.NEW:
            selected = "subscribed" if self.cache else "not subscribed"
            return f"new image {self.identifier} (accepted, {selected})"
        if self.kind is ChangeKind.REFUSED:
            return f"new image {self.identifier} refused by the subscription's new-image mode"
        if self.kind is ChangeKind.CONFLICT:
            return f"image {self.identifier} belongs to subscription {self.owner}: not attached"
        return f"{self.kind} image {self.identifier}"


@dataclass(frozen=True)
class Acceptance:
    """A list to store as the subscription's new latest instance."""

    imagelist: ImageList
    data: bytes
    data_hash: str
    sub_auth: int
    changes: tuple[ImageChange, ...]
    list_uri: str
    new_uri: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def accepted(self) -> tuple[ImageChange, ...]:
        """The changes whose image becomes part of the new list instance."""
        return tuple(change for change in self.changes if change.kind in ACCEPTED_KINDS)


@dataclass(frozen=True)
class Plan:
    """What to do for one subscription; ``exit_code`` 0 unless something was refused."""

    subscription: str
    outcome: Outcome
    exit_code: int
    message: str
    accept: Acceptance | None = None
    mark_expired: bool = False
    #: ETag/Last-Modified to store without accepting anything (a 200 with the same bytes).
    validators: tuple[str | None, str | None] | None = None
    #: images to announce with SubscriptionImageNew (unknown ids, accepted or refused).
    new_images: tuple[Image, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        """Whether persisting the plan writes anything."""
        return self.accept is not None or self.mark_expired or self.validators is not None
