"""The rows behind :class:`~.store.PublisherStore`: checks, new objects, key/value items, links.

Also how values are shown and stored as vmcaster 0.0.x did (:func:`vmcaster_json`,
:func:`stored_text`). Module-level helpers of the store, kept apart so that the store itself
reads as its transactions.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.publisher import models
from ..errors import UsageError
from ..versions import compare_versions
from .kinds import KIND_NAMES, Kind

__all__ = [
    "INT_LIKE",
    "KIND_NAMES",
    "RESERVED_KEYS",
    "Kind",
    "add_link",
    "check_identifier",
    "check_key",
    "image_object",
    "link_model",
    "linked_query",
    "metadata_model",
    "new_object",
    "newer_or_equal",
    "set_items",
    "size_value",
    "stored_text",
    "unwrap",
    "vmcaster_json",
]

logger = logging.getLogger(__name__)

#: Keys that come from the database structure, not from key/value rows.
RESERVED_KEYS: dict[Kind, frozenset[str]] = {
    "imagelist": frozenset({"dc:identifier", "hv:endorser", "hv:images"}),
    "image": frozenset({"dc:identifier"}),
    "endorser": frozenset({"hv:dn"}),
}
INT_LIKE = re.compile(r"\s*[+-]?[0-9]+\s*")


def stored_text(value: object) -> str:
    """How an imported JSON value is stored: strings as they are, anything else as JSON text."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def size_value(identifier: str, text: str) -> int | str:
    """``hv:size`` as vmcaster showed it: an integer, or the text if it is not one."""
    if INT_LIKE.fullmatch(text):
        return int(text)
    logger.warning("image %s: hv:size %r is not an integer", identifier, text)
    return text


def metadata_model(kind: Kind) -> Any:
    """The ORM class of the key/value rows of ``kind``."""
    return {
        "imagelist": models.ImageListMetadata,
        "image": models.ImageMetadata,
        "endorser": models.EndorserMetadata,
    }[kind]


def check_identifier(kind: Kind, identifier: str) -> None:
    if (
        not identifier
        or not identifier.strip()
        or "\n" in identifier
        or len(identifier) > models.ID_LENGTH
    ):
        what = "subject" if kind == "endorser" else "identifier"
        raise UsageError(f"invalid {KIND_NAMES[kind]} {what} {identifier!r}")


def check_key(kind: Kind, key: str) -> None:
    if key in RESERVED_KEYS[kind]:
        raise UsageError(
            f"key {key} of an {KIND_NAMES[kind]} is reserved: it comes from the database, "
            "not from a key/value"
            if kind == "imagelist" or kind == "image"
            else f"key {key} of an endorser is reserved: it is the endorser's subject"
        )
    if not key or len(key) > models.KEY_LENGTH:
        raise UsageError(f"invalid key {key!r}")


def new_object(kind: Kind, identifier: str) -> Any:
    if kind == "imagelist":
        return models.ImageList(identifier=identifier)
    if kind == "image":
        return models.Image(identifier=identifier)
    return models.Endorser(subject=identifier)


def set_items(obj: Any, kind: Kind, values: Mapping[str, str]) -> None:
    model = metadata_model(kind)
    current = {item.key: item for item in obj.items}
    for key, value in values.items():
        item = current.get(key)
        if item is None:
            obj.items.append(model(key=key, value=value))
        elif item.value != value:
            item.value = value


def link_model(kind: Literal["image", "endorser"]) -> tuple[Any, Any]:
    if kind == "image":
        return models.ImageListImage, models.ImageListImage.image_id
    return models.Endorsement, models.Endorsement.endorser_id


def linked_query(owner: Any, kind: Literal["image", "endorser"], *, names: bool = False) -> Any:
    """The images or the endorsers (their identifiers or subjects, if ``names``) linked to the
    list ``owner``, in the order they were linked: a query for ``session.scalars``."""
    link, column = link_model(kind)
    model: Any = models.Image if kind == "image" else models.Endorser
    what = (model.identifier if kind == "image" else model.subject) if names else model
    query = select(what).join(link, column == model.id).where(link.imagelist_id == owner.id)
    return query.order_by(link.id)


def add_link(session: Session, owner: Any, other: Any, kind: Literal["image", "endorser"]) -> bool:
    model, column = link_model(kind)
    exists = session.scalars(
        select(model.id).where(model.imagelist_id == owner.id, column == other.id)
    ).first()
    if exists is not None:
        logger.info("%s already linked to image list %s", KIND_NAMES[kind], owner.identifier)
        return False
    if kind == "image":
        session.add(models.ImageListImage(imagelist_id=owner.id, image_id=other.id))
    else:
        session.add(models.Endorsement(imagelist_id=owner.id, endorser_id=other.id))
    session.flush()
    return True


def unwrap(entry: object, wrapper: str, key: str) -> tuple[Mapping[str, Any], str] | None:
    """``entry[wrapper]`` of an imported document and its ``key`` (a non-empty string), or None
    when either is missing or of another type."""
    inner = entry.get(wrapper) if isinstance(entry, Mapping) else None
    value = inner.get(key) if isinstance(inner, Mapping) else None
    if not isinstance(value, str) or not value or not isinstance(inner, Mapping):
        return None
    return inner, value


def newer_or_equal(stored: str | None, imported: object) -> bool:
    """vmcaster's rule: import keys when the stored version ≤ the imported one (default 0.0.0)."""
    new = imported if isinstance(imported, str) and imported else "0.0.0"
    return compare_versions(stored or "0.0.0", new) >= 0


def image_object(identifier: str, keys: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"dc:identifier": identifier}
    for key, value in keys.items():
        out[key] = size_value(identifier, value) if key == "hv:size" else value
    return out


def vmcaster_json(document: Any) -> str:
    """JSON text exactly as vmcaster 0.0.x (Python 2) wrote it: sorted keys, indent 4, ASCII.

    Python 2's ``json.dumps(..., indent=4)`` separated items with ``", "``, so every line
    that ends with a comma also ends with a space; this keeps those bytes, so ``--show-*``
    output and signed lists are byte-identical to the old tool's.
    """
    return json.dumps(document, sort_keys=True, indent=4, separators=(", ", ": "))
