"""The HEPiX image lists the marketplace publishes, built from plain values (no database, no I/O).

Two kinds of list (ADR 0020):

* a **per-appliance list** at ``/store/vappliance/<slug>/image.list``: the latest published
  version of one appliance; list id = the appliance's UUID, image ids = the logical images' UUIDs;
* a **VO-wide list** at ``/store/vo/<vo>/image.list``: the versions a VO endorsed; list id = the
  VO list's UUID, image ids = :func:`vo_image_id` (``uuid5(list uuid, image uuid)``), stable per
  (VO, image) and never equal to a per-appliance id, so a site subscribed to both has no clash.

Every image carries every key vmcatcher 0.6 requires and every key EGI's atrope requires
(:data:`ATROPE_IMAGE_KEYS`), including a per-image ``dc:date:expires``. The JSON text is encoded
by :func:`encode_list` so that S/MIME signing does not change it: what ``image.list.json`` holds is
byte for byte the payload a verifier of ``image.list`` gets back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..document import REQUIRED_IMAGE_KEYS, format_date

__all__ = [
    "ATROPE_IMAGE_KEYS",
    "DEFAULT_GROUP",
    "ImageEntry",
    "ListHeader",
    "ServiceEndorser",
    "build_document",
    "encode_list",
    "next_hv_version",
    "vo_image_id",
]

#: Image keys EGI atrope 2.x requires (``HepixImage.required_fields``); a list missing one is
#: refused as a whole (InvalidImageList).
ATROPE_IMAGE_KEYS: tuple[str, ...] = (
    "ad:group",
    "ad:mpuri",
    "ad:user:fullname",
    "ad:user:guid",
    "ad:user:uri",
    "dc:description",
    "dc:identifier",
    "dc:title",
    "hv:hypervisor",
    "hv:format",
    "hv:size",
    "hv:uri",
    "hv:version",
    "sl:arch",
    "sl:comments",
    "sl:os",
    "sl:osname",
    "sl:osversion",
    "sl:checksum:sha512",
)
#: Every key each published image carries: vmcatcher's, atrope's and the per-image expiry.
PUBLISHED_IMAGE_KEYS: tuple[str, ...] = tuple(
    sorted({*REQUIRED_IMAGE_KEYS, *ATROPE_IMAGE_KEYS, "dc:date:expires"})
)
#: ``ad:group`` when the image names none (AppDB's default).
DEFAULT_GROUP = "General group"
_VERSION_FORMAT = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class ServiceEndorser:
    """``hv:endorser.hv:x509``: the marketplace's service certificate (subject and issuer DNs)."""

    dn: str
    ca: str
    email: str
    creator: str

    def to_dict(self) -> dict[str, str]:
        return {
            "dc:creator": self.creator,
            "hv:ca": self.ca,
            "hv:dn": self.dn,
            "hv:email": self.email,
        }


@dataclass(frozen=True)
class ImageEntry:
    """One published image (an image instance of an appliance version), as plain values."""

    identifier: str
    title: str
    description: str
    group: str
    uri: str
    format: str
    hypervisors: Sequence[str]
    size: int
    sha512: str
    arch: str
    os_family: str
    os_name: str
    os_version: str
    version: str
    comments: str
    expires: datetime
    mpuri: str
    user_fullname: str
    user_guid: str
    user_uri: str
    cores_minimum: int | None = None
    cores_recommended: int | None = None
    ram_minimum: int | None = None
    ram_recommended: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        image: dict[str, Any] = dict(self.extra)
        image.update(
            {
                "ad:group": self.group or DEFAULT_GROUP,
                "ad:mpuri": self.mpuri,
                "ad:user:fullname": self.user_fullname,
                "ad:user:guid": self.user_guid,
                "ad:user:uri": self.user_uri,
                "dc:date:expires": format_date(self.expires),
                "dc:description": self.description,
                "dc:identifier": self.identifier,
                "dc:title": self.title,
                "hv:format": self.format,
                "hv:hypervisor": ",".join(self.hypervisors),
                "hv:size": self.size,
                "hv:uri": self.uri,
                "hv:version": self.version,
                "sl:arch": self.arch,
                "sl:checksum:sha512": self.sha512,
                "sl:comments": self.comments,
                "sl:os": self.os_family,
                "sl:osname": self.os_name,
                "sl:osversion": self.os_version,
            }
        )
        for key, value in (
            ("hv:core_minimum", self.cores_minimum),
            ("ad:core_recommended", self.cores_recommended),
            ("hv:ram_minimum", self.ram_minimum),
            ("ad:ram_recommended", self.ram_recommended),
        ):
            if value is not None:
                image[key] = value
        return image


@dataclass(frozen=True)
class ListHeader:
    """The list-level keys. ``vo`` is set for a VO-wide list (``ad:vo``)."""

    identifier: str
    title: str
    description: str
    source: str
    uri: str
    version: str
    created: datetime
    expires: datetime
    endorser: ServiceEndorser
    vo: str | None = None


def vo_image_id(list_uuid: str | uuid.UUID, image_uuid: str | uuid.UUID) -> str:
    """The id of a logical image inside a VO-wide list: ``uuid5(list uuid, image uuid)``.

    Stable for the (VO list, image) pair, the same for every version of the image (so a new
    version is an update at the site, not a removal and an addition), and never equal to the
    image's own UUID, which the per-appliance list uses. ``image_uuid`` is taken as text (an
    imported image keeps the endorser's ``dc:identifier``, which need not be a UUID).
    """
    return str(uuid.uuid5(uuid.UUID(str(list_uuid)), str(image_uuid)))


def next_hv_version(previous: str | None, now: datetime) -> str:
    """``hv:version``: the UTC time as ``YYYYmmddHHMMSS``, above ``previous`` in any case.

    Two publications in one second, or a clock that went back, get ``previous + 1`` (compared
    and incremented as an integer), so vmcatcher never sees a lower version (its error 17).
    """
    candidate = now.astimezone(UTC).strftime(_VERSION_FORMAT)
    if previous is not None and previous.isdigit() and int(candidate) <= int(previous):
        return str(int(previous) + 1)
    return candidate


def build_document(header: ListHeader, images: Iterable[ImageEntry]) -> dict[str, Any]:
    """The ``{"hv:imagelist": ...}`` document for ``header`` and ``images``."""
    entries = [{"hv:image": image.to_dict()} for image in images]
    body: dict[str, Any] = {
        "dc:date:created": format_date(header.created),
        "dc:date:expires": format_date(header.expires),
        "dc:description": header.description,
        "dc:identifier": header.identifier,
        "dc:source": header.source,
        "dc:title": header.title,
        "hv:endorser": {"hv:x509": header.endorser.to_dict()},
        "hv:images": entries,
        "hv:uri": header.uri,
        "hv:version": header.version,
    }
    if header.vo is not None:
        body["ad:vo"] = header.vo
        body["ad:num_of_images"] = len(entries)
    return {"hv:imagelist": body}


def encode_list(document: dict[str, Any]) -> bytes:
    """The JSON bytes to sign and to serve as ``image.list.json``.

    Sorted keys, indent 2, UTF-8, CRLF line ends and no final line end: exactly the canonical
    form S/MIME signing produces, so the signed payload and this text are the same bytes.
    (orjson: a list of 1,000 images in a few milliseconds; line ends inside strings are
    escaped, so every CRLF is a line end of the layout.)
    """
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    return text.replace(b"\n", b"\r\n")
