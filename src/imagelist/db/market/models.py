"""The marketplace's tables as SQLAlchemy 2 models (ADR 0019).

People and their identities; VOs and VO roles; appliances (VAs) with members, logical images,
versions and the image instances of each version; integrity jobs; VO-wide lists with their
entries; every publication stored immutably; API tokens (hashed) and the audit trail.

States (strings, checked by the service, not the database):

* ``ApplianceVersion.state``: draft → verifying → verified | failed → published → archived
  (:data:`VERSION_TRANSITIONS`). At most one published version per appliance (a partial
  unique index on SQLite and PostgreSQL).
* ``ImageInstance.integrity_state``: pending | running | ok | failed | skipped.
* ``IntegrityJob.state``: queued | running | done | failed | cancelled.
* ``VoList.state``: draft | published | obsolete; at most one draft and one published per VO.
  Every list of a VO carries the same ``uuid`` (the list ``dc:identifier``).

Times are naive UTC in the database and aware UTC in Python.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..subscriber.models import UTCDateTime

__all__ = [
    "IMAGE_STATES",
    "JOB_STATES",
    "MEMBER_PERMISSIONS",
    "VERSION_STATES",
    "VERSION_TRANSITIONS",
    "VO_LIST_STATES",
    "VO_ROLES",
    "AccessToken",
    "Appliance",
    "ApplianceMember",
    "ApplianceVersion",
    "AuditEvent",
    "Base",
    "Identity",
    "Image",
    "ImageInstance",
    "IntegrityJob",
    "Person",
    "PublishedDocument",
    "SentNotification",
    "Vo",
    "VoList",
    "VoListEntry",
    "VoRole",
]

VERSION_STATES = ("draft", "verifying", "verified", "failed", "published", "archived")
#: Allowed state changes of an appliance version.
VERSION_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"verifying"}),
    "verifying": frozenset({"verified", "failed", "draft"}),
    "verified": frozenset({"published", "verifying", "draft"}),
    "failed": frozenset({"verifying", "draft"}),
    "published": frozenset({"archived"}),
    "archived": frozenset(),
}
IMAGE_STATES = ("pending", "running", "ok", "failed", "skipped")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
VO_LIST_STATES = ("draft", "published", "obsolete")
VO_ROLES = ("manager", "deputy", "expert")
MEMBER_PERMISSIONS = ("owner", "maintainer")

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the marketplace tables."""

    metadata = MetaData(naming_convention=_NAMING)


class Person(Base):
    """Someone who uses the market: an endorser, a VO manager, a site admin."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime)

    identities: Mapped[list[Identity]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class Identity(Base):
    """One way a person is recognised: an X.509 DN (canonical form, as vmcatcher_endorser
    stores it) with its CA DN, or an OIDC ``sub`` with its issuer."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("kind", "subject", "issuer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # x509 | oidc
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(back_populates="identities")


class Vo(Base):
    """A Virtual Organisation whose managers publish a VO-wide image list."""

    __tablename__ = "vo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: Whether reading the published VO list needs a token with scope ``vo:<name>:read``.
    gated: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime)


class VoRole(Base):
    """A person's role in a VO: manager, deputy or expert (all may edit the VO list)."""

    __tablename__ = "vo_role"
    __table_args__ = (UniqueConstraint("person_id", "vo_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    vo_id: Mapped[int] = mapped_column(ForeignKey("vo.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))


class Appliance(Base):
    """A virtual appliance (VA). ``uuid`` is its list's ``dc:identifier``, stable for life."""

    __tablename__ = "appliance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)

    owner: Mapped[Person] = relationship()
    members: Mapped[list[ApplianceMember]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    images: Mapped[list[Image]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Image.id"
    )
    versions: Mapped[list[ApplianceVersion]] = relationship(
        back_populates="appliance",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ApplianceVersion.id",
    )


class ApplianceMember(Base):
    """Who may manage an appliance's versions: ``owner`` or ``maintainer``."""

    __tablename__ = "appliance_member"
    __table_args__ = (UniqueConstraint("appliance_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appliance_id: Mapped[int] = mapped_column(
        ForeignKey("appliance.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(16))

    person: Mapped[Person] = relationship()


class Image(Base):
    """A logical image of an appliance (a VMI), stable across versions."""

    __tablename__ = "image"
    __table_args__ = (UniqueConstraint("appliance_id", "title"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appliance_id: Mapped[int] = mapped_column(
        ForeignKey("appliance.id", ondelete="CASCADE"), index=True
    )
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    #: ``ad:group`` in the published lists.
    group_name: Mapped[str] = mapped_column(Text, default="General group")


class ApplianceVersion(Base):
    """One version of an appliance: a set of image instances that are checked and published."""

    __tablename__ = "appliance_version"
    __table_args__ = (
        UniqueConstraint("appliance_id", "version"),
        Index(
            "uq_appliance_version_published",
            "appliance_id",
            unique=True,
            sqlite_where=text("state = 'published'"),
            postgresql_where=text("state = 'published'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appliance_id: Mapped[int] = mapped_column(
        ForeignKey("appliance.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(20))
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="draft")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The endorser-signed list this version was imported from (S/MIME bytes, as posted).
    endorsed_list: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    endorsed_dn: Mapped[str | None] = mapped_column(Text)
    endorsed_issuer: Mapped[str | None] = mapped_column(Text)

    appliance: Mapped[Appliance] = relationship(back_populates="versions")
    instances: Mapped[list[ImageInstance]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ImageInstance.id"
    )


class ImageInstance(Base):
    """One concrete image file of a version (AppDB's "VMI instance")."""

    __tablename__ = "image_instance"
    __table_args__ = (UniqueConstraint("version_id", "image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("appliance_version.id", ondelete="CASCADE"), index=True
    )
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    #: Used in ``ad:mpuri``; the list's image ``dc:identifier`` is the logical image's uuid.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    uri: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    hypervisors: Mapped[list[str]] = mapped_column(JSON, default=list)
    arch: Mapped[str] = mapped_column(String(32))
    os_family: Mapped[str] = mapped_column(String(64))
    os_name: Mapped[str] = mapped_column(String(64))
    os_version: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    sha512: Mapped[str] = mapped_column(String(128))
    #: The image's own ``hv:version`` (defaults to the appliance version's).
    image_version: Mapped[str | None] = mapped_column(String(64))
    cores_min: Mapped[int | None] = mapped_column(Integer)
    cores_rec: Mapped[int | None] = mapped_column(Integer)
    ram_min: Mapped[int | None] = mapped_column(Integer)  # MB
    ram_rec: Mapped[int | None] = mapped_column(Integer)  # MB
    comments: Mapped[str] = mapped_column(Text, default="")
    autocheck: Mapped[bool] = mapped_column(Boolean, default=True)
    integrity_state: Mapped[str] = mapped_column(String(16), default="pending")
    integrity_message: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    image: Mapped[Image] = relationship()


class IntegrityJob(Base):
    """A check of every image of a version, run by the market's job runner."""

    __tablename__ = "integrity_job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("appliance_version.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="queued")
    #: Set by a cancel request; the runner stops at its next chunk.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Publish as soon as the check passes ("Verify & Publish").
    publish_after: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    #: The process running the job (``host:pid``) and when it last reported (revision 0002):
    #: a running job whose heartbeat is older than the lease was abandoned (a restart).
    worker: Mapped[str | None] = mapped_column(Text)
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VoList(Base):
    """A VO-wide image list: the draft being edited, the published one, obsolete ones."""

    __tablename__ = "vo_list"
    __table_args__ = (
        Index(
            "uq_vo_list_draft",
            "vo_id",
            unique=True,
            sqlite_where=text("state = 'draft'"),
            postgresql_where=text("state = 'draft'"),
        ),
        Index(
            "uq_vo_list_published",
            "vo_id",
            unique=True,
            sqlite_where=text("state = 'published'"),
            postgresql_where=text("state = 'published'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vo_id: Mapped[int] = mapped_column(ForeignKey("vo.id", ondelete="CASCADE"), index=True)
    #: The list ``dc:identifier``: the same for every list of the VO.
    uuid: Mapped[str] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    #: UTC ``YYYYmmddHHMMSS``, strictly increasing per VO; set when published.
    hv_version: Mapped[str | None] = mapped_column(String(14))
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    vo: Mapped[Vo] = relationship()
    entries: Mapped[list[VoListEntry]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="VoListEntry.id"
    )


class VoListEntry(Base):
    """A VO endorses one version of an appliance (one version per appliance per list)."""

    __tablename__ = "vo_list_entry"
    __table_args__ = (UniqueConstraint("vo_list_id", "appliance_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vo_list_id: Mapped[int] = mapped_column(
        ForeignKey("vo_list.id", ondelete="CASCADE"), index=True
    )
    appliance_id: Mapped[int] = mapped_column(
        ForeignKey("appliance.id", ondelete="CASCADE"), index=True
    )
    appliance_version_id: Mapped[int] = mapped_column(
        ForeignKey("appliance_version.id", ondelete="CASCADE"), index=True
    )

    version: Mapped[ApplianceVersion] = relationship()


class PublishedDocument(Base):
    """One publication, never changed: the list JSON, its S/MIME and OpenPGP signatures.

    ``kind`` is ``va`` (``subject_id`` = appliance id) or ``vo`` (``subject_id`` = vo id).
    """

    __tablename__ = "published_document"
    __table_args__ = (UniqueConstraint("kind", "subject_id", "hv_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    subject_id: Mapped[int] = mapped_column(Integer, index=True)
    hv_version: Mapped[str] = mapped_column(String(32))
    json: Mapped[bytes] = mapped_column(LargeBinary)
    smime: Mapped[bytes] = mapped_column(LargeBinary)
    pgp_sig: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime)


class AccessToken(Base):
    """An API token: only its SHA-256 is stored; scopes like ``market:write``, ``vo:X:read``."""

    __tablename__ = "access_token"
    __table_args__ = (UniqueConstraint("person_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()


class AuditEvent(Base):
    """Who did what to which object, when (append-only)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SentNotification(Base):
    """A notification mail, claimed before it is sent so that it goes out once (revision 0003).

    ``kind`` is ``version-expiring``, ``version-expires-today``, ``version-expired``,
    ``vo-obsolete`` or ``vo-update``; ``subject`` names what it is about (``version:12``,
    ``vo:3:version:12``). ``sent_at`` stays empty if the sender died between claim and send.
    """

    __tablename__ = "sent_notification"
    __table_args__ = (UniqueConstraint("kind", "subject", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
