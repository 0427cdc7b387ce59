"""The endorser's database: image lists, images, endorsers, their keys and links.

Every method is one transaction. Objects are selected by their public identifiers: an image
list or an image by ``dc:identifier``, an endorser by its certificate subject (``hv:dn``).
Values are stored as text, as vmcaster 0.0.x did; :meth:`PublisherStore.show_imagelist` gives
back the same JSON shapes it printed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from ..db.engine import transaction
from ..db.publisher import models
from ..errors import ImportDocumentError, PublishObjectNotFoundError
from .rows import (
    INT_LIKE,
    KIND_NAMES,
    RESERVED_KEYS,
    Kind,
    add_link,
    check_identifier,
    check_key,
    image_object,
    link_model,
    linked_query,
    new_object,
    newer_or_equal,
    set_items,
    stored_text,
    unwrap,
    vmcaster_json,
)

__all__ = [
    "RESERVED_KEYS",
    "Kind",
    "LinkedEndorser",
    "PublisherStore",
    "stored_text",
    "vmcaster_json",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkedEndorser:
    """An endorser linked to a list, with its keys (``hv:dn`` included)."""

    subject: str
    keys: dict[str, str]

    def x509(self) -> dict[str, str]:
        """The ``hv:x509`` object: its keys, ``hv:dn`` from the subject."""
        return {**self.keys, "hv:dn": self.subject}


class PublisherStore:
    """vmcaster's operations on its database (see :func:`imagelist.db.publisher.open_database`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """The one database access point (:func:`imagelist.db.engine.transaction`)."""
        with transaction(self.engine, expire_on_commit=False) as session:
            yield session

    @staticmethod
    def _find(session: Session, kind: Kind, identifier: str) -> Any:
        model: Any
        if kind == "imagelist":
            model, column = models.ImageList, models.ImageList.identifier
        elif kind == "image":
            model, column = models.Image, models.Image.identifier
        else:
            model, column = models.Endorser, models.Endorser.subject
        return session.scalars(select(model).where(column == identifier)).one_or_none()

    def _find_or_add(
        self, session: Session, kind: Kind, identifier: str, *, check: bool = True
    ) -> Any:
        """The object, added (its identifier checked first, if ``check``) when it is new."""
        found = self._find(session, kind, identifier)
        if found is None:
            if check:
                check_identifier(kind, identifier)
            found = new_object(kind, identifier)
            session.add(found)
            session.flush()
        return found

    def _get(self, session: Session, kind: Kind, identifier: str) -> Any:
        found = self._find(session, kind, identifier)
        if found is None:
            raise PublishObjectNotFoundError(f"{KIND_NAMES[kind]} {identifier!r} does not exist")
        return found

    # --- objects ----------------------------------------------------------------------------------

    def identifiers(self, kind: Kind) -> list[str]:
        """All identifiers of one kind (endorsers: subjects), in creation order."""
        with self._transaction() as session:
            if kind == "imagelist":
                return list(session.scalars(select(models.ImageList.identifier).order_by("id")))
            if kind == "image":
                return list(session.scalars(select(models.Image.identifier).order_by("id")))
            return list(session.scalars(select(models.Endorser.subject).order_by("id")))

    def exists(self, kind: Kind, identifier: str) -> bool:
        """Whether the object is in the database."""
        with self._transaction() as session:
            return self._find(session, kind, identifier) is not None

    def add(self, kind: Kind, identifier: str) -> bool:
        """Create an empty object; False (and nothing changes) if it exists already."""
        check_identifier(kind, identifier)
        with self._transaction() as session:
            if self._find(session, kind, identifier) is not None:
                logger.warning("%s %s already exists", KIND_NAMES[kind], identifier)
                return False
            session.add(new_object(kind, identifier))
        logger.info("added %s %s", KIND_NAMES[kind], identifier)
        return True

    def delete(self, kind: Kind, identifier: str) -> None:
        """Delete an object with its keys and links."""
        with self._transaction() as session:
            obj = self._get(session, kind, identifier)
            session.delete(obj)
        logger.info("deleted %s %s", KIND_NAMES[kind], identifier)

    # --- keys -------------------------------------------------------------------------------------

    def keys(self, kind: Kind, identifier: str) -> dict[str, str]:
        """The stored keys of an object (without the reserved ones), in creation order."""
        with self._transaction() as session:
            obj = self._get(session, kind, identifier)
            return {item.key: item.value for item in obj.items}

    def get_key(self, kind: Kind, identifier: str, key: str) -> str | None:
        """One stored value, or None."""
        return self.keys(kind, identifier).get(key)

    def set_key(self, kind: Kind, identifier: str, key: str, value: str) -> None:
        """Create or overwrite a key. Reserved keys (e.g. ``dc:identifier``) are refused."""
        self.set_keys(kind, identifier, {key: value})

    def set_keys(self, kind: Kind, identifier: str, values: Mapping[str, str]) -> None:
        """Create or overwrite several keys in one transaction."""
        for key in values:
            check_key(kind, key)
        with self._transaction() as session:
            obj = self._get(session, kind, identifier)
            set_items(obj, kind, values)

    def delete_key(self, kind: Kind, identifier: str, key: str) -> bool:
        """Delete a key; False (with a warning) if the object has no such key."""
        with self._transaction() as session:
            obj = self._get(session, kind, identifier)
            for item in obj.items:
                if item.key == key:
                    obj.items.remove(item)
                    return True
        logger.warning("%s %s has no key %s", KIND_NAMES[kind], identifier, key)
        return False

    # --- links ------------------------------------------------------------------------------------

    def link(self, kind: Literal["image", "endorser"], imagelist: str, identifier: str) -> bool:
        """Link an image or an endorser to a list; False if already linked."""
        with self._transaction() as session:
            return add_link(
                session,
                self._get(session, "imagelist", imagelist),
                self._get(session, kind, identifier),
                kind,
            )

    def unlink(self, kind: Literal["image", "endorser"], imagelist: str, identifier: str) -> None:
        """Remove a link (an error if there is none)."""
        with self._transaction() as session:
            owner = self._get(session, "imagelist", imagelist)
            other = self._get(session, kind, identifier)
            model, column = link_model(kind)
            result = session.execute(
                delete(model).where(model.imagelist_id == owner.id, column == other.id)
            )
            if not getattr(result, "rowcount", 0):
                raise PublishObjectNotFoundError(
                    f"{KIND_NAMES[kind]} {identifier!r} is not linked to image list {imagelist!r}"
                )

    def linked(self, kind: Literal["image", "endorser"], imagelist: str) -> list[str]:
        """Identifiers (endorsers: subjects) linked to a list, in link order."""
        with self._transaction() as session:
            owner = self._get(session, "imagelist", imagelist)
            return list(session.scalars(linked_query(owner, kind, names=True)))

    def imagelists_of_image(self, image: str) -> list[str]:
        """The lists an image is linked to, oldest link first."""
        with self._transaction() as session:
            obj = self._get(session, "image", image)
            query = (
                select(models.ImageList.identifier)
                .join(
                    models.ImageListImage, models.ImageListImage.imagelist_id == models.ImageList.id
                )
                .where(models.ImageListImage.image_id == obj.id)
                .order_by(models.ImageListImage.id)
            )
            return list(session.scalars(query))

    # --- documents --------------------------------------------------------------------------------

    def show_image(self, identifier: str) -> dict[str, Any]:
        """``--show-image``: the image keys, ``dc:identifier`` and an integer ``hv:size``."""
        keys = self.keys("image", identifier)
        return image_object(identifier, keys)

    def show_endorser(self, subject: str) -> dict[str, Any]:
        """``--show-endorser``: ``hv:dn`` and the keys, integer-looking values as integers."""
        out: dict[str, Any] = {"hv:dn": subject}
        for key, value in self.keys("endorser", subject).items():
            out[key] = int(value) if INT_LIKE.fullmatch(value) else value
        return out

    def list_content(
        self, identifier: str
    ) -> tuple[dict[str, str], list[dict[str, Any]], list[LinkedEndorser]]:
        """A list's keys, its images (``hv:image`` objects) and its linked endorsers."""
        with self._transaction() as session:
            owner = self._get(session, "imagelist", identifier)
            keys = {item.key: item.value for item in owner.items}
            images = [
                image_object(image.identifier, {item.key: item.value for item in image.items})
                for image in session.scalars(linked_query(owner, "image"))
            ]
            endorsers = [
                LinkedEndorser(endorser.subject, {item.key: item.value for item in endorser.items})
                for endorser in session.scalars(linked_query(owner, "endorser"))
            ]
        return keys, images, endorsers

    def show_imagelist(self, identifier: str) -> dict[str, Any]:
        """``--show-imagelist``: ``{"hv:imagelist": ...}`` as vmcaster printed it.

        ``hv:images`` only if the list has images and ``hv:endorser`` only if it has an
        endorser, as before; but the endorser is always one object, the first linked (0.0.x
        wrote an array when several were linked, which vmcatcher cannot read: D17).
        """
        keys, images, endorsers = self.list_content(identifier)
        body: dict[str, Any] = dict(keys)
        if images:
            body["hv:images"] = [{"hv:image": image} for image in images]
        body["dc:identifier"] = identifier
        if endorsers:
            body["hv:endorser"] = {"hv:x509": endorsers[0].x509()}
        return {"hv:imagelist": body}

    def record_publication(
        self, identifier: str, values: Mapping[str, str], when: datetime
    ) -> None:
        """After a successful upload: store the published version and dates."""
        with self._transaction() as session:
            owner = self._get(session, "imagelist", identifier)
            set_items(owner, "imagelist", values)
            owner.updated = when

    # --- import (reference §3.7) ------------------------------------------------------------------

    def import_document(self, document: Mapping[str, Any]) -> str:
        """Import a decoded ``{"hv:imagelist": ...}`` the way vmcaster's importer did.

        The list, its images and endorsers are created and linked. An image's keys (and the
        list's keys) are overwritten only if the stored ``hv:version`` is not newer than the
        imported one; endorser keys always are. Images missing from the import stay linked.
        One transaction: nothing changes if anything is wrong. Returns the list identifier.
        """
        content = document.get("hv:imagelist") if isinstance(document, Mapping) else None
        if not isinstance(content, Mapping):
            raise ImportDocumentError("cannot import: the JSON has no hv:imagelist object")
        identifier = content.get("dc:identifier")
        if not isinstance(identifier, str) or not identifier:
            raise ImportDocumentError("cannot import: hv:imagelist has no dc:identifier")
        check_identifier("imagelist", identifier)
        with self._transaction() as session:
            owner = self._find_or_add(session, "imagelist", identifier)
            self._import_images(session, owner, content.get("hv:images"))
            self._import_endorsers(session, owner, content.get("hv:endorser"))
            stored = {item.key: item.value for item in owner.items}
            if newer_or_equal(stored.get("hv:version"), content.get("hv:version")):
                set_items(
                    owner,
                    "imagelist",
                    {
                        key: stored_text(value)
                        for key, value in content.items()
                        if key not in RESERVED_KEYS["imagelist"]
                    },
                )
            else:
                logger.warning(
                    "image list %s: stored hv:version %s is newer than the imported %s: "
                    "list keys kept",
                    identifier,
                    stored.get("hv:version"),
                    content.get("hv:version"),
                )
        logger.info("imported image list %s", identifier)
        return identifier

    def _import_images(self, session: Session, owner: Any, images: object) -> None:
        if images is None:
            return
        if not isinstance(images, list):
            raise ImportDocumentError("cannot import: hv:images is not an array")
        for entry in images:
            found = unwrap(entry, "hv:image", "dc:identifier")
            if found is None:
                logger.warning("ignoring an hv:images entry without hv:image/dc:identifier")
                continue
            image, ident = found
            obj = self._find_or_add(session, "image", ident)
            add_link(session, owner, obj, "image")
            stored = {item.key: item.value for item in obj.items}
            if newer_or_equal(stored.get("hv:version"), image.get("hv:version")):
                set_items(
                    obj,
                    "image",
                    {k: stored_text(v) for k, v in image.items() if k != "dc:identifier"},
                )
            else:
                logger.warning("image %s: stored version is newer: keys kept", ident)

    def _import_endorsers(self, session: Session, owner: Any, endorsers: object) -> None:
        if endorsers is None:
            return
        for wrapper in endorsers if isinstance(endorsers, list) else [endorsers]:
            found = unwrap(wrapper, "hv:x509", "hv:dn")
            if found is None:
                logger.warning("ignoring an hv:endorser entry without hv:x509/hv:dn")
                continue
            x509, subject = found
            obj = self._find_or_add(session, "endorser", subject, check=False)
            add_link(session, owner, obj, "endorser")
            set_items(obj, "endorser", {k: stored_text(v) for k, v in x509.items() if k != "hv:dn"})
