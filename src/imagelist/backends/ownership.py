"""Which images in a cloud are ours: the ownership rule both backends apply.

Anyone who can create an image can give it our marker, the ``dc:identifier`` and the list's
checksum. So an image is **ours** only if

* it is owned by the configured owner: Glance ``owner`` is our project; OpenNebula ``UID`` and
  ``GID`` are our user and group; **and**
* it carries our marker: the Glance tag (default ``imagelist``); the OpenNebula attribute
  ``IMAGELIST_MANAGED_BY``.

An image another tool made (atrope, cloudkeeper, the CESGA handler) may be **adopted** only if
adoption is switched on (``adopt = true``) and it has the same owner. Every other image is
**foreign**: never adopted, shared, renamed, retired, chowned, and never a source of owner or
permissions.

An image of ours (or an adoptable one) is the **current** image of a list entry only if the
hash its cloud stored equals the list's SHA-512: Glance's own ``os_hash_value``, or the digest
of the converted file we recorded when we uploaded it; in OpenNebula (which stores no hash) the
SHA-512 we recorded when we allocated it. Checksums other tools wrote are never trusted for
that; adopted OpenNebula images are therefore never current, only superseded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADOPTABLE",
    "FOREIGN",
    "OURS",
    "Claim",
    "glance_claim",
    "glance_is_current",
    "glance_source_sha512",
    "one_claim",
    "one_is_current",
]

logger = logging.getLogger(__name__)

OURS = "ours"
ADOPTABLE = "adoptable"
FOREIGN = "foreign"

# --- Glance properties ------------------------------------------------------------------------
GLANCE_ID = "vmcatcher_event_dc_identifier"
GLANCE_SHA = "imagelist_sha512"  # the list's SHA-512 of the source, recorded by us
GLANCE_UPLOADED_SHA = "imagelist_uploaded_sha512"  # what we sent, when extracted or converted
#: How peers mark the identifier and the checksum of images they uploaded.
GLANCE_PEER_IDS = {"appdb_id": "atrope", "APPLIANCE_ID": "cloudkeeper-os"}
GLANCE_PEER_SHAS = ("image_hash", "sha512")

# --- OpenNebula template attributes ---------------------------------------------------------
ONE_ID = "VMCATCHER_EVENT_DC_IDENTIFIER"
ONE_PEER_ID = "CLOUDKEEPER_APPLIANCE_ID"
ONE_SHA = "IMAGELIST_SHA512"  # the list's SHA-512, recorded by us at allocation
ONE_MANAGED = "IMAGELIST_MANAGED_BY"


@dataclass(frozen=True)
class Claim:
    """Whether an image is ours, a peer's we may adopt (``peer`` names the tool), or foreign."""

    kind: str
    peer: str = ""

    @property
    def managed(self) -> bool:
        """Ours or adoptable: the only images a backend ever changes."""
        return self.kind != FOREIGN


def _claim(*, owned: bool, marked: bool, peer: str, adopt: bool) -> Claim:
    if not owned:
        return Claim(FOREIGN)
    if marked:
        return Claim(OURS)
    if peer and adopt:
        return Claim(ADOPTABLE, peer)
    return Claim(FOREIGN)


# --- Glance -------------------------------------------------------------------------------------


def _props(image: Any) -> dict[str, Any]:
    props = getattr(image, "properties", None)
    return dict(props) if isinstance(props, dict) else {}


def glance_peer(image: Any, adopt_tags: Sequence[str]) -> str:
    """The tool that made ``image``, judged by its properties (atrope also by its tags)."""
    props = _props(image)
    for key, peer in GLANCE_PEER_IDS.items():
        if props.get(key):
            if peer == "atrope" and not any(t in (image.tags or []) for t in adopt_tags):
                continue
            return peer
    return ""


def glance_claim(
    image: Any, *, project: str, tag: str, adopt: bool, adopt_tags: Sequence[str]
) -> Claim:
    """The claim on a Glance image of the backend of ``project`` marking images with ``tag``."""
    claim = _claim(
        owned=bool(project) and str(image.owner or "") == project,
        marked=tag in (image.tags or []),
        peer=glance_peer(image, adopt_tags),
        adopt=adopt,
    )
    if claim.kind == FOREIGN and image.owner != project:
        logger.warning(
            "glance: image %s of project %s looks like one of ours; ignored (not our project)",
            image.id,
            image.owner,
        )
    return claim


def glance_source_sha512(image: Any) -> str:
    """The list checksum an image was made from, as its tool recorded it (for Expire events
    and listings; never used to decide that an image is current)."""
    props = _props(image)
    for key in (GLANCE_SHA, *GLANCE_PEER_SHAS):
        if props.get(key):
            return str(props[key]).lower()
    try:
        attributes = json.loads(props.get("APPLIANCE_ATTRIBUTES") or "{}")
        value = attributes.get("sl:checksum:sha512") if isinstance(attributes, dict) else None
    except ValueError:
        value = None
    if value:
        return str(value).lower()
    if image.hash_algo == "sha512" and image.hash_value:
        return str(image.hash_value).lower()
    return ""


def glance_is_current(image: Any, claim: Claim, sha512: str) -> bool:
    """Whether Glance's own hash of ``image`` shows it holds the list's image ``sha512``.

    ``os_hash_value`` must be the list's SHA-512, or (our images only) the digest of the
    extracted or converted file we recorded beside the list's SHA-512 when we uploaded it.
    """
    if image.status != "active" or not claim.managed:
        return False
    stored = str(image.hash_value or "").lower()
    if image.hash_algo != "sha512" or not stored:
        return False
    if stored == sha512:
        return True
    props = _props(image)
    return (
        claim.kind == OURS
        and str(props.get(GLANCE_SHA, "")).lower() == sha512
        and str(props.get(GLANCE_UPLOADED_SHA, "")).lower() == stored
    )


# --- OpenNebula ---------------------------------------------------------------------------------


def one_template(image: Any) -> dict[str, Any]:
    """The TEMPLATE of a pyone image as a dict."""
    template = getattr(image, "TEMPLATE", None)
    return dict(template) if isinstance(template, dict) else {}


def one_peer(image: Any) -> str:
    """The tool that made an OpenNebula image, judged by its attributes."""
    template = one_template(image)
    if template.get(ONE_ID):
        return "vmcatcher_eventHndl_ON"
    if template.get(ONE_PEER_ID):
        return "cloudkeeper-one"
    return ""


def one_claim(image: Any, *, uid: int, gid: int, adopt: bool) -> Claim:
    """The claim on an OpenNebula image of the backend whose images belong to ``uid:gid``."""
    owned = int(image.UID) == uid and int(image.GID) == gid
    claim = _claim(
        owned=owned,
        marked=str(one_template(image).get(ONE_MANAGED) or "") == "imagelist",
        peer=one_peer(image),
        adopt=adopt,
    )
    if not owned and (one_peer(image) or one_template(image).get(ONE_MANAGED)):
        logger.warning(
            "opennebula: image %s of %s:%s looks like one of ours; ignored (not owned by %s:%s)",
            image.ID,
            image.UID,
            image.GID,
            uid,
            gid,
        )
    return claim


def one_is_current(image: Any, claim: Claim, sha512: str) -> bool:
    """Whether ``image`` is ours and we recorded the list's ``sha512`` when we allocated it."""
    recorded = str(one_template(image).get(ONE_SHA) or "").lower()
    return claim.kind == OURS and recorded == sha512
