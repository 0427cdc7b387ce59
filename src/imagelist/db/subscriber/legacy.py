"""Migrate a vmcatcher 0.6 database (reference §2.5) into a new imagelist database.

``vmcatcher_subscribe -d NEW_URL --migrate-legacy-db OLD_URL`` copies, in one transaction:

* endorsers and their principals (joined on ``endorserPrincible.endorser``, not on the ids as
  0.6 did, defect D9),
* subscriptions with their URI, description, credentials (credentials found inside an old URI
  are moved to the credential columns), trust anchor, new-image mode and update time,
* the endorser links,
* every image definition (the site's image selections: ``cache``),
* the latest accepted list instance of each subscription with its image instances, so that
  each image keeps its state (subscribed, available) and the cache sees no change.

Older list instances (the history 0.6 kept forever, defect D15) are not copied. Identifiers that
are not safe (``is_safe_identifier``) are skipped and reported, because they would become file
names in the cache. The old database is opened read-only (SQLite) and never written; the new one
must be empty. The next ``-U`` fetches every list in full and verifies it again.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, MetaData, Row, Table, create_engine, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ...document import is_safe_identifier
from ...errors import DatabaseError, LegacyDatabaseError, UsageError
from ...urls import split_credentials
from ..engine import hide_db_password
from . import LEGACY_TABLES, db_reason
from .models import (
    Endorser,
    EndorserPrincipal,
    ImageDefinition,
    ImageInstance,
    ImageListInstance,
    Subscription,
    SubscriptionAuth,
)

__all__ = ["LegacyReport", "migrate_legacy", "open_legacy"]

logger = logging.getLogger(__name__)


@dataclass
class LegacyReport:
    """What the migration copied, dropped and skipped."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    history_dropped: int = 0

    def add(self, what: str, number: int = 1) -> None:
        """Count copied rows."""
        self.counts[what] = self.counts.get(what, 0) + number

    def skip(self, reason: str) -> None:
        """Record (and log) something not copied."""
        logger.warning("legacy migration: %s", reason)
        self.skipped.append(reason)

    def summary(self) -> str:
        """One line: what was copied."""
        order = (
            "endorsers",
            "principals",
            "subscriptions",
            "links",
            "image definitions",
            "lists",
            "images",
        )
        parts = [f"{self.counts.get(name, 0)} {name}" for name in order]
        text = "migrated " + ", ".join(parts)
        if self.history_dropped:
            text += f"; {self.history_dropped} older list instances not copied"
        if self.skipped:
            text += f"; {len(self.skipped)} items skipped (see the warnings)"
        return text


def open_legacy(url: str) -> Engine:
    """An engine on the old database; SQLite files are opened read-only."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(f"invalid database URL {hide_db_password(url)}: {exc}") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database or ""
            if not path or path == ":memory:":
                raise UsageError("the legacy database must be a file")

            def connect() -> sqlite3.Connection:
                return sqlite3.connect(f"file:{path}?mode=ro", uri=True)

            return create_engine("sqlite://", creator=connect)
        return create_engine(parsed)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise UsageError(f"cannot open legacy database {hide_db_password(url)}: {exc}") from None


def _reflect(engine: Engine, url: str) -> dict[str, Table]:
    metadata = MetaData()
    try:
        metadata.reflect(bind=engine, only=lambda name, _meta: name in LEGACY_TABLES)
    except SQLAlchemyError as exc:
        raise LegacyDatabaseError(
            f"cannot read legacy database {hide_db_password(url)}: {db_reason(exc)}"
        ) from None
    missing = sorted(LEGACY_TABLES - set(metadata.tables))
    if missing:
        tables = ", ".join(missing)
        raise LegacyDatabaseError(
            f"{hide_db_password(url)} is not a vmcatcher 0.6 database: no table {tables}"
        )
    return dict(metadata.tables)


def _get(row: Row[Any], name: str, default: Any = None) -> Any:
    return row._mapping.get(name, default)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Copier:
    """The copy, table by table, keeping maps from old ids to new ids."""

    def __init__(self, tables: dict[str, Table], report: LegacyReport) -> None:
        self.tables = tables
        self.report = report
        self.endorsers: dict[int, int] = {}
        self.subscriptions: dict[int, int] = {}
        self.latest_lists: dict[int, int] = {}  # old subscription id -> old list instance id
        self.links: dict[int, int] = {}
        self.lists: dict[int, int] = {}
        self.definitions: dict[int, int] = {}

    def rows(self, source: Any, name: str) -> list[Row[Any]]:
        """Every row of an old table, by id."""
        table = self.tables[name]
        return list(source.execute(select(table).order_by(table.c.id)))

    def copy(self, source: Any, target: Any) -> None:
        """Copy everything, parents first."""
        self._endorsers(source, target)
        self._subscriptions(source, target)
        self._links(source, target)
        self._lists(source, target)
        self._definitions(source, target)
        self._images(source, target)

    def _endorsers(self, source: Any, target: Any) -> None:
        for row in self.rows(source, "endorser"):
            new = target.execute(
                insert(Endorser).values(identifier=str(row.identifier)).returning(Endorser.id)
            ).scalar_one()
            self.endorsers[row.id] = new
            self.report.add("endorsers")
        for row in self.rows(source, "endorserPrincible"):
            endorser = self.endorsers.get(_get(row, "endorser"))
            if endorser is None:
                self.report.skip(f"principal {row.hv_dn!r} belongs to no endorser")
                continue
            target.execute(
                insert(EndorserPrincipal).values(
                    hv_dn=str(row.hv_dn), hv_ca=str(row.hv_ca), endorser_id=endorser
                )
            )
            self.report.add("principals")

    def _subscriptions(self, source: Any, target: Any) -> None:
        for row in self.rows(source, "subscription"):
            identifier = str(row.identifier)
            if not is_safe_identifier(identifier):
                self.report.skip(f"subscription {identifier!r}: unsafe identifier")
                continue
            uri, url_user, url_password = split_credentials(str(row.uri))
            username = _get(row, "userName") or url_user
            password = _get(row, "password") or url_password
            new = target.execute(
                insert(Subscription)
                .values(
                    identifier=identifier,
                    description=_get(row, "description"),
                    uri=uri,
                    authorised=bool(_get(row, "authorised", True)),
                    updated=_utc(_as_datetime(_get(row, "updated"))),
                    trust_anchor=int(_get(row, "trustAnchor") or 0),
                    username=username,
                    password=password,
                    update_mode=int(_get(row, "updateMode") or 0),
                    list_uri=uri,
                    allow_rollback=False,
                    reimport=False,
                )
                .returning(Subscription.id)
            ).scalar_one()
            self.subscriptions[row.id] = new
            latest = _get(row, "imagelist_latest")
            if latest:
                self.latest_lists[row.id] = int(latest)
            self.report.add("subscriptions")

    def _links(self, source: Any, target: Any) -> None:
        seen: set[tuple[int, int]] = set()
        for row in self.rows(source, "subscriptionAuth"):
            subscription = self.subscriptions.get(_get(row, "subscription"))
            endorser = self.endorsers.get(_get(row, "endorser"))
            if subscription is None or endorser is None or (subscription, endorser) in seen:
                continue
            seen.add((subscription, endorser))
            self.links[row.id] = target.execute(
                insert(SubscriptionAuth)
                .values(
                    subscription_id=subscription,
                    endorser_id=endorser,
                    authorised=bool(_get(row, "authorised", True)),
                )
                .returning(SubscriptionAuth.id)
            ).scalar_one()
            self.report.add("links")

    def _lists(self, source: Any, target: Any) -> None:
        table = self.tables["imageListInstance"]
        self.report.history_dropped = int(
            source.execute(select(func.count()).select_from(table)).scalar_one()
        ) - len(self.latest_lists)
        links = self.tables["subscriptionAuth"]
        for old_subscription, old_list in self.latest_lists.items():
            row = source.execute(select(table).where(table.c.id == old_list)).first()
            if row is None:
                self.report.skip(f"list instance {old_list} named as latest does not exist")
                self.report.history_dropped += 1
                continue
            link = source.execute(select(links).where(links.c.id == row.sub_auth)).first()
            new_link = self.links.get(row.sub_auth)
            if link is None or link.subscription != old_subscription or new_link is None:
                self.report.skip(f"list instance {old_list} is not linked to its subscription")
                continue
            data = _as_bytes(row.data)
            digest = hashlib.sha512(data).hexdigest()
            if digest != row.data_hash:
                logger.warning("list instance %s: stored hash differs from its data", old_list)
            new = target.execute(
                insert(ImageListInstance)
                .values(
                    data=data,
                    data_hash=digest,
                    expired=_utc(_as_datetime(row.expired)),
                    sub_auth=new_link,
                    imported=_utc(_as_datetime(row.imported)),
                    created=_utc(_as_datetime(row.created)),
                    expires=_utc(_as_datetime(row.expires)),
                    version=str(row.version),
                )
                .returning(ImageListInstance.id)
            ).scalar_one()
            self.lists[old_list] = new
            target.execute(
                update(Subscription)
                .where(Subscription.id == self.subscriptions[old_subscription])
                .values(imagelist_latest=new)
            )
            self.report.add("lists")

    def _definitions(self, source: Any, target: Any) -> None:
        for row in self.rows(source, "ImageDefinition"):
            identifier = str(row.identifier)
            subscription = self.subscriptions.get(_get(row, "subscription"))
            if subscription is None:
                continue
            if not is_safe_identifier(identifier):
                self.report.skip(f"image {identifier!r}: unsafe identifier")
                continue
            self.definitions[row.id] = target.execute(
                insert(ImageDefinition)
                .values(
                    identifier=identifier,
                    cache=int(row.cache or 0),
                    subscription_id=subscription,
                    latest=None,
                )
                .returning(ImageDefinition.id)
            ).scalar_one()
            self.report.add("image definitions")

    def _images(self, source: Any, target: Any) -> None:
        table = self.tables["ImageInstance"]
        definitions = self.tables["ImageDefinition"]
        latest_of = {row.id: _get(row, "latest") for row in source.execute(select(definitions))}
        kept = list(self.lists)
        if not kept:
            return
        query = select(table).where(table.c.fkimagelistinstance.in_(kept)).order_by(table.c.id)
        for row in source.execute(query):
            definition = self.definitions.get(row.fkIdentifier)
            if definition is None:
                continue
            new = target.execute(
                insert(ImageInstance)
                .values(
                    description=str(row.description),
                    hypervisor=str(row.hypervisor),
                    sha512=str(row.sha512),
                    uri=str(row.uri),
                    os=_get(row, "os"),
                    osversion=_get(row, "osversion"),
                    arch=_get(row, "arch"),
                    version=str(row.version),
                    size=int(row.size),
                    title=str(row.title),
                    comments=_get(row, "comments"),
                    definition_id=definition,
                    list_instance_id=self.lists[row.fkimagelistinstance],
                )
                .returning(ImageInstance.id)
            ).scalar_one()
            if latest_of.get(row.fkIdentifier) == row.id:
                target.execute(
                    update(ImageDefinition)
                    .where(ImageDefinition.id == definition)
                    .values(latest=new)
                )
            self.report.add("images")


def migrate_legacy(source_url: str, target: Engine) -> LegacyReport:
    """Copy the vmcatcher 0.6 database at ``source_url`` into the empty database ``target``."""
    if str(make_url(source_url)) == str(target.url):
        raise UsageError("migrate into a new database: the old one is kept as it is")
    source = open_legacy(source_url)
    report = LegacyReport()
    try:
        tables = _reflect(source, source_url)
        with target.begin() as out:
            if out.execute(select(func.count()).select_from(Subscription)).scalar_one() or (
                out.execute(select(func.count()).select_from(Endorser)).scalar_one()
            ):
                raise UsageError(
                    f"the new database {hide_db_password(str(target.url))} already holds "
                    "subscriptions or endorsers"
                )
            with source.connect() as old:
                _Copier(tables, report).copy(old, out)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"legacy migration failed: {db_reason(exc)}") from None
    finally:
        source.dispose()
    logger.info("%s", report.summary())
    return report
