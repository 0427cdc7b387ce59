"""The vmcaster database: key/value metadata for image lists, images and endorsers.

The same shape as vmcaster 0.0.x (reference §3.2) with the constraints it meant to have: one
value per (object, key), one link per (list, image) and (list, endorser), and cascading
deletes. Tables carry a ``vmcaster_`` prefix so that they never collide with the 0.0.x tables
(an old ``vmcaster.db`` can be opened, and imported from, in place) or with vmcatcher's tables
in a shared server database. Link rows keep their insertion order (``id``): the first linked
endorser and the image order of a list follow it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "Endorsement",
    "Endorser",
    "EndorserMetadata",
    "Image",
    "ImageList",
    "ImageListImage",
    "ImageListMetadata",
    "ImageMetadata",
]

#: Identifiers and DNs: generous, and indexed (unique) on every backend.
ID_LENGTH = 1024
KEY_LENGTH = 255


#: Deterministic constraint names, the same in the models and the migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the vmcaster tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Endorser(Base):
    """A signer, keyed by its certificate subject (``hv:dn``)."""

    __tablename__ = "vmcaster_endorser"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    items: Mapped[list[EndorserMetadata]] = relationship(
        back_populates="endorser",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="EndorserMetadata.id",
    )


class EndorserMetadata(Base):
    """One key of an endorser (``hv:ca``, ``hv:email``, ``dc:creator``, ...)."""

    __tablename__ = "vmcaster_endorser_metadata"
    __table_args__ = (UniqueConstraint("endorser_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endorser_id: Mapped[int] = mapped_column(
        ForeignKey("vmcaster_endorser.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    value: Mapped[str] = mapped_column(Text)
    endorser: Mapped[Endorser] = relationship(back_populates="items")


class ImageList(Base):
    """An image list, keyed by its ``dc:identifier``."""

    __tablename__ = "vmcaster_imagelist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    #: When the list was last published (instrumentation only, as in 0.0.x).
    updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    items: Mapped[list[ImageListMetadata]] = relationship(
        back_populates="imagelist",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ImageListMetadata.id",
    )


class ImageListMetadata(Base):
    """One list-level key (``dc:title``, ``hv:uri``, ``hv:version``, ...)."""

    __tablename__ = "vmcaster_imagelist_metadata"
    __table_args__ = (UniqueConstraint("imagelist_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imagelist_id: Mapped[int] = mapped_column(
        ForeignKey("vmcaster_imagelist.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    value: Mapped[str] = mapped_column(Text)
    imagelist: Mapped[ImageList] = relationship(back_populates="items")


class Image(Base):
    """An image, keyed by its ``dc:identifier``; it may be linked to several lists."""

    __tablename__ = "vmcaster_image"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    items: Mapped[list[ImageMetadata]] = relationship(
        back_populates="image",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ImageMetadata.id",
    )


class ImageMetadata(Base):
    """One image key (``hv:uri``, ``hv:size``, ``sl:checksum:sha512``, ...)."""

    __tablename__ = "vmcaster_image_metadata"
    __table_args__ = (UniqueConstraint("image_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("vmcaster_image.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    value: Mapped[str] = mapped_column(Text)
    image: Mapped[Image] = relationship(back_populates="items")


class Endorsement(Base):
    """An endorser linked to an image list."""

    __tablename__ = "vmcaster_endorsement"
    __table_args__ = (UniqueConstraint("imagelist_id", "endorser_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imagelist_id: Mapped[int] = mapped_column(
        ForeignKey("vmcaster_imagelist.id", ondelete="CASCADE"), index=True
    )
    endorser_id: Mapped[int] = mapped_column(
        ForeignKey("vmcaster_endorser.id", ondelete="CASCADE"), index=True
    )


class ImageListImage(Base):
    """An image linked to an image list."""

    __tablename__ = "vmcaster_imagelist_image"
    __table_args__ = (UniqueConstraint("imagelist_id", "image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imagelist_id: Mapped[int] = mapped_column(
        ForeignKey("vmcaster_imagelist.id", ondelete="CASCADE"), index=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("vmcaster_image.id", ondelete="CASCADE"), index=True
    )
