"""OpenNebula image objects as pyone returns them: states, templates, permissions.

What the OpenNebula backend reads from oned's image XML and writes back as templates, kept
apart from the backend's calls (:mod:`.opennebula`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from .base import ACTIVE, PENDING, RETIRED, ManagedImage
from .ownership import ONE_ID, ONE_PEER_ID, ONE_SHA, OURS, Claim, one_template

__all__ = [
    "DISABLED",
    "ERROR",
    "IN_USE",
    "READY",
    "bits",
    "check_images",
    "identifier_of",
    "managed",
    "sha512_of",
    "state_of",
    "template_xml",
]

SHA_ATTRIBUTE = "VMCATCHER_EVENT_SL_CHECKSUM_SHA512"
PENDING_ATTRIBUTE = "IMAGELIST_RETIRE_PENDING"
RETIRED_ATTRIBUTE = "IMAGELIST_RETIRED"
#: Image states (OpenNebula's Image::ImageState).
READY, USED, DISABLED, LOCKED, ERROR = 1, 2, 3, 4, 5
USED_PERS, LOCKED_USED, LOCKED_USED_PERS = 8, 9, 10
IN_USE = {USED, USED_PERS, LOCKED_USED, LOCKED_USED_PERS}
EXPIRED_FORMAT = "%Y-%m-%d_%H-%M-%S"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
PERMISSION_FIELDS = (
    "OWNER_U",
    "OWNER_M",
    "OWNER_A",
    "GROUP_U",
    "GROUP_M",
    "GROUP_A",
    "OTHER_U",
    "OTHER_M",
    "OTHER_A",
)


#: The fields of an IMAGE the backend reads as integers; oned always sends them (image.xsd).
_INTEGER_FIELDS = ("ID", "UID", "GID", "STATE")


def check_images(images: list[Any]) -> str | None:
    """What is wrong with the first malformed IMAGE of an answer, or None if all are usable.

    pyone builds objects from whatever oned sends; a missing or non-integer field would only
    fail later, deep in the backend, as an internal error. Checked once where answers arrive.
    """
    for image in images:
        for field in _INTEGER_FIELDS:
            value = getattr(image, field, None)
            try:
                int(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return f"IMAGE {text(getattr(image, 'ID', '?'))[:20]} has no integer {field}"
    return None


def text(value: Any) -> str:
    """A pyone value as text ("" for None)."""
    return "" if value is None else str(value)


def template_xml(attributes: dict[str, str]) -> str:
    """An oned template in XML: every value escaped; characters XML cannot carry dropped."""
    root = ET.Element("TEMPLATE")
    for key, value in attributes.items():
        ET.SubElement(root, key).text = _XML_INVALID.sub("", value)
    return ET.tostring(root, encoding="unicode")


def identifier_of(image: Any) -> str:
    """The ``dc:identifier`` an image carries (ours, CESGA's or cloudkeeper-one's attribute)."""
    template = one_template(image)
    return text(template.get(ONE_ID) or template.get(ONE_PEER_ID))


def sha512_of(image: Any) -> str:
    """The list checksum the image was made from, as its tool recorded it (for Expire events
    and listings; never used to decide that an image is current)."""
    template = one_template(image)
    value = template.get(ONE_SHA) or template.get(SHA_ATTRIBUTE)
    return text(value or template.get("CLOUDKEEPER_IMAGE_CHECKSUM")).lower()


def state_of(image: Any) -> str:
    """ACTIVE, PENDING (an Expire marked it) or RETIRED (by us or by its own tool)."""
    template = one_template(image)
    if (
        template.get(RETIRED_ATTRIBUTE)
        or "_EXPIRED_" in text(image.NAME)
        or text(image.NAME).startswith("EXPIRED_")
        or text(template.get("CLOUDKEEPER_EXPIRED")).lower() == "yes"
    ):
        return RETIRED
    if template.get(PENDING_ATTRIBUTE):
        return PENDING
    return ACTIVE


def managed(image: Any, claim: Claim) -> ManagedImage:
    """The listing entry of an image we manage."""
    template = one_template(image)
    return ManagedImage(
        backend_id=text(image.ID),
        identifier=identifier_of(image),
        sha512=sha512_of(image),
        state=state_of(image),
        name=text(image.NAME),
        list_id=text(
            template.get("VMCATCHER_EVENT_IL_DC_IDENTIFIER")
            or template.get("CLOUDKEEPER_APPLIANCE_IMAGE_LIST_ID")
        ),
        managed_by="imagelist" if claim.kind == OURS else claim.peer,
    )


def bits(octal: str) -> list[int]:
    """chmod arguments (OWNER_U..OTHER_A) for an octal such as "600" (U=4, M=2, A=1)."""
    out = []
    for digit in octal:
        value = int(digit)
        out += [1 if value & 4 else 0, 1 if value & 2 else 0, 1 if value & 1 else 0]
    return out
