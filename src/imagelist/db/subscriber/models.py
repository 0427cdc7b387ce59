"""vmcatcher's database as SQLAlchemy 2 models (reference §2.5, same table and column names).

The tables and columns of vmcatcher 0.6 keep their names (``endorserPrincible``,
``"trustAnchor"``, ``"fkIdentifier"`` ...), so queries written against the old schema still read
it. What changed:

* Text columns are unbounded ``TEXT`` (0.6 declared ``VARCHAR(50)`` for DNs and descriptions,
  which only SQLite ignored); ``ImageInstance.size`` is a 64-bit integer (images above 2 GiB).
* "None" is NULL: ``ImageDefinition.latest`` and ``subscription.imagelist_latest`` are NULL
  rather than 0 when nothing was imported.
* New ``subscription`` columns: ``list_uri`` (the hv:uri of the last accepted list, to notice a
  move), ``http_etag``/``http_last_modified`` (conditional GET), ``allow_rollback`` (a pending
  trust reset) and ``reimport`` (apply the stored list again at the next update).
* One link per (subscription, endorser); indexes on the foreign keys.
* Monitoring (revision 0002): ``subscriptionStatus`` (last attempt, success, error of each
  subscription's update) and ``monitoringMetric`` (counters and last-run gauges kept across
  runs). Neither describes a list: :data:`MONITORING_TABLES` names them.
* OpenPGP (revision 0003, ADR 0021): ``endorserOpenpgpCert`` (an endorser's OpenPGP
  certificates) and ``subscription.signature_policy`` (``smime``, ``smime+openpgp``,
  ``openpgp``).

Times are stored as naive UTC and read back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "MONITORING_TABLES",
    "Base",
    "Endorser",
    "EndorserOpenpgpCert",
    "EndorserPrincipal",
    "ImageDefinition",
    "ImageInstance",
    "ImageListInstance",
    "MonitoringMetric",
    "Subscription",
    "SubscriptionAuth",
    "SubscriptionStatus",
    "UTCDateTime",
]

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC (as vmcatcher did) and returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware → naive UTC."""
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Naive UTC → aware."""
        if value is None:
            return None
        result: datetime = value
        return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the vmcatcher tables."""

    metadata = MetaData(naming_convention=_NAMING)


class Endorser(Base):
    """Someone trusted to sign lists, by a local name (``vmcatcher_endorser -e``)."""

    __tablename__ = "endorser"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(Text, unique=True)


class EndorserPrincipal(Base):
    """One (DN, CA DN) certificate identity of an endorser. A DN belongs to one endorser."""

    __tablename__ = "endorserPrincible"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hv_dn: Mapped[str] = mapped_column(Text, unique=True)
    hv_ca: Mapped[str] = mapped_column(Text)
    endorser_id: Mapped[int] = mapped_column(
        "endorser",
        ForeignKey("endorser.id", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )


class EndorserOpenpgpCert(Base):
    """One OpenPGP certificate of an endorser (armored); a certificate belongs to one endorser."""

    __tablename__ = "endorserOpenpgpCert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endorser_id: Mapped[int] = mapped_column(
        "endorser",
        ForeignKey("endorser.id", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )
    fingerprint: Mapped[str] = mapped_column(Text, unique=True)
    certificate: Mapped[str] = mapped_column(Text)


class Subscription(Base):
    """A subscribed image list: where it is fetched from and what was accepted last."""

    __tablename__ = "subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(Text, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str] = mapped_column(Text, unique=True)
    authorised: Mapped[bool] = mapped_column(Boolean, default=True)
    imagelist_latest: Mapped[int | None] = mapped_column(Integer)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trust_anchor: Mapped[int] = mapped_column("trustAnchor", Integer, default=0)
    username: Mapped[str | None] = mapped_column("userName", Text)
    password: Mapped[str | None] = mapped_column(Text)
    update_mode: Mapped[int] = mapped_column("updateMode", Integer, default=0)
    list_uri: Mapped[str | None] = mapped_column(Text)
    http_etag: Mapped[str | None] = mapped_column(Text)
    http_last_modified: Mapped[str | None] = mapped_column(Text)
    allow_rollback: Mapped[bool] = mapped_column(Boolean, default=False)
    reimport: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``smime`` | ``smime+openpgp`` | ``openpgp`` (imagelist.companions.SignaturePolicy)
    signature_policy: Mapped[str] = mapped_column(Text, default="smime", server_default="smime")


class SubscriptionAuth(Base):
    """An endorser allowed to sign a subscription's list."""

    __tablename__ = "subscriptionAuth"
    __table_args__ = (UniqueConstraint("subscription", "endorser"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        "subscription",
        ForeignKey("subscription.id", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )
    endorser_id: Mapped[int] = mapped_column(
        "endorser",
        ForeignKey("endorser.id", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )
    authorised: Mapped[bool] = mapped_column(Boolean, default=True)


class ImageDefinition(Base):
    """An image id known to this site: which subscription owns it, whether it is cached."""

    __tablename__ = "ImageDefinition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(Text, unique=True)
    latest: Mapped[int | None] = mapped_column(Integer)
    cache: Mapped[int] = mapped_column(Integer, default=0)
    subscription_id: Mapped[int] = mapped_column(
        "subscription",
        ForeignKey("subscription.id", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )


class ImageListInstance(Base):
    """One accepted publication of a list: the whole signed file as downloaded."""

    __tablename__ = "imageListInstance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    data_hash: Mapped[str] = mapped_column(String(128))
    expired: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sub_auth: Mapped[int] = mapped_column(
        ForeignKey("subscriptionAuth.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    imported: Mapped[datetime] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[str] = mapped_column(Text)


class ImageInstance(Base):
    """An image as one list instance described it."""

    __tablename__ = "ImageInstance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    hypervisor: Mapped[str] = mapped_column(Text)
    sha512: Mapped[str] = mapped_column(String(128), index=True)
    uri: Mapped[str] = mapped_column(Text)
    os: Mapped[str | None] = mapped_column(Text)
    osversion: Mapped[str | None] = mapped_column(Text)
    arch: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    comments: Mapped[str | None] = mapped_column(Text)
    definition_id: Mapped[int] = mapped_column(
        "fkIdentifier",
        ForeignKey("ImageDefinition.id", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )
    list_instance_id: Mapped[int] = mapped_column(
        "fkimagelistinstance",
        ForeignKey("imageListInstance.id", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )


class SubscriptionStatus(Base):
    """How the last ``-U`` of a subscription went (one row per subscription)."""

    __tablename__ = "subscriptionStatus"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        "subscription",
        ForeignKey("subscription.id", ondelete="CASCADE", onupdate="CASCADE"),
        unique=True,
    )
    last_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_exit_code: Mapped[int | None] = mapped_column(Integer)


class MonitoringMetric(Base):
    """A Prometheus sample kept across runs: a counter or the gauge of a command's last run."""

    __tablename__ = "monitoringMetric"
    __table_args__ = (UniqueConstraint("name", "labels"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    #: The labels as canonical JSON (sorted keys), e.g. ``{"result": "ok"}``.
    labels: Mapped[str] = mapped_column(Text)
    value: Mapped[float] = mapped_column(Float)


#: Tables about runs, not about lists: a refused list may still change them (the last error).
MONITORING_TABLES = frozenset({"subscriptionStatus", "monitoringMetric"})
