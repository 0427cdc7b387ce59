"""Import a vmcaster 0.0.x database (reference §3.2 schema) into the current schema.

The old tables (``endorser``, ``endorserMetadata``, ``imagelist``, ``ImagelistMetadata``,
``Image``, ``ImageMetadata``, ``Endorsement``, ``ImageListImage``) are read, never written. Every
list, image and endorser is created if missing, every key is copied (a key stored twice, which
0.0.x allowed, keeps its last value, as 0.0.x showed it) and every link is added once, in the
old row order. Running it again changes nothing. The whole import is one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    create_engine,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from ...errors import DatabaseError, UsageError
from ..engine import db_reason, hide_db_password
from . import models

__all__ = ["LegacyImportReport", "import_legacy_database"]

logger = logging.getLogger(__name__)

_OLD = MetaData()
_ENDORSER = Table("endorser", _OLD, Column("id", Integer), Column("subject", String))
_ENDORSER_META = Table(
    "endorserMetadata",
    _OLD,
    Column("id", Integer),
    Column("fkEndorser", Integer),
    Column("key", String),
    Column("value", String),
)
_LIST = Table("imagelist", _OLD, Column("id", Integer), Column("identifier", String))
_LIST_META = Table(
    "ImagelistMetadata",
    _OLD,
    Column("id", Integer),
    Column("fkImageList", Integer),
    Column("key", String),
    Column("value", String),
)
_IMAGE = Table("Image", _OLD, Column("id", Integer), Column("identifier", String))
_IMAGE_META = Table(
    "ImageMetadata",
    _OLD,
    Column("id", Integer),
    Column("fkImage", Integer),
    Column("key", String),
    Column("value", String),
)
_ENDORSEMENT = Table(
    "Endorsement",
    _OLD,
    Column("id", Integer),
    Column("fkImageList", Integer),
    Column("fkEndorser", Integer),
)
_LIST_IMAGE = Table(
    "ImageListImage",
    _OLD,
    Column("id", Integer),
    Column("fkImageList", Integer),
    Column("fkImage", Integer),
)
# Keys that the new schema takes from the structure, as 0.0.x's importer skipped them.
_RESERVED = {
    "imagelist": {"dc:identifier", "hv:endorser", "hv:images"},
    "image": {"dc:identifier"},
    "endorser": {"hv:dn"},
}


@dataclass
class LegacyImportReport:
    """What the import found and did."""

    imagelists: int = 0
    images: int = 0
    endorsers: int = 0
    keys: int = 0
    links: int = 0
    skipped: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _rows(connection: Connection, table: Table) -> list[Row[Any]]:
    return list(connection.execute(select(table).order_by(table.c.id)))


def _source_engine(url: str) -> Engine:
    """A plain engine on the old database: no pragmas, and SQLite files must exist."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or not Path(database).expanduser().is_file():
                raise UsageError(f"legacy database {hide_db_password(url)}: no such file")
        return create_engine(parsed)
    except (ArgumentError, NoSuchModuleError, ValueError, ImportError) as exc:
        raise UsageError(f"invalid database URL {hide_db_password(url)}: {exc}") from None


class _Importer:
    def __init__(self, session: Session, report: LegacyImportReport) -> None:
        self.session = session
        self.report = report

    def objects(self, rows: Iterable[Any], kind: str, model: Any, column: str) -> dict[int, Any]:
        """Create (or find) the new objects; map old ids to them."""
        by_old_id: dict[int, Any] = {}
        existing = {getattr(obj, column): obj for obj in self.session.scalars(select(model))}
        for row in rows:
            name = _text(row[1])
            if not name:
                self.report.skipped.append(f"{kind} row {row.id} without identifier")
                continue
            obj = existing.get(name)
            if obj is None:
                obj = model(**{column: name})
                self.session.add(obj)
                existing[name] = obj
            by_old_id[row.id] = obj
        self.session.flush()
        return by_old_id

    def keys(self, rows: Iterable[Any], kind: str, owners: dict[int, Any], item_model: Any) -> None:
        for row in rows:
            owner = owners.get(row[1])
            key, value = _text(row.key), _text(row.value)
            if owner is None or not key or value is None:
                self.report.skipped.append(f"{kind} key row {row.id} ({key!r})")
                continue
            if key in _RESERVED[kind]:
                self.report.skipped.append(f"{kind} key row {row.id}: reserved key {key}")
                continue
            current = next((item for item in owner.items if item.key == key), None)
            if current is None:
                owner.items.append(item_model(key=key, value=value))
            else:
                current.value = value
            self.report.keys += 1

    def links(
        self, rows: Iterable[Any], kind: str, lists: dict[int, Any], others: dict[int, Any]
    ) -> None:
        model: Any
        model, other_column = (
            (models.ImageListImage, "image_id")
            if kind == "image"
            else (models.Endorsement, "endorser_id")
        )
        seen = {
            (link.imagelist_id, getattr(link, other_column))
            for link in self.session.scalars(select(model))
        }
        for row in rows:
            owner, other = lists.get(row[1]), others.get(row[2])
            if owner is None or other is None:
                self.report.skipped.append(f"{kind} link row {row.id}")
                continue
            pair = (owner.id, other.id)
            if pair in seen:
                continue
            seen.add(pair)
            self.session.add(model(imagelist_id=owner.id, **{other_column: other.id}))
            self.report.links += 1
        self.session.flush()


def import_legacy_database(source_url: str, target: Engine) -> LegacyImportReport:
    """Copy a vmcaster 0.0.x database at ``source_url`` into ``target`` (current schema)."""
    source = _source_engine(source_url)
    where = hide_db_password(source_url)
    report = LegacyImportReport()
    try:
        with source.connect() as old:
            if old.dialect.name == "sqlite":
                old.exec_driver_sql("PRAGMA query_only = ON")
            tables = set(inspect(old).get_table_names())
            missing = sorted(str(t.name) for t in _OLD.tables.values() if t.name not in tables)
            if missing:
                raise UsageError(
                    f"{where} is not a vmcaster 0.0.x database: no table(s) {', '.join(missing)}"
                )
            with Session(target) as session, session.begin():
                importer = _Importer(session, report)
                endorsers = importer.objects(
                    _rows(old, _ENDORSER), "endorser", models.Endorser, "subject"
                )
                lists = importer.objects(
                    _rows(old, _LIST), "imagelist", models.ImageList, "identifier"
                )
                images = importer.objects(_rows(old, _IMAGE), "image", models.Image, "identifier")
                report.endorsers, report.imagelists, report.images = (
                    len(endorsers),
                    len(lists),
                    len(images),
                )
                importer.keys(
                    _rows(old, _ENDORSER_META), "endorser", endorsers, models.EndorserMetadata
                )
                importer.keys(_rows(old, _LIST_META), "imagelist", lists, models.ImageListMetadata)
                importer.keys(_rows(old, _IMAGE_META), "image", images, models.ImageMetadata)
                importer.links(_rows(old, _LIST_IMAGE), "image", lists, images)
                importer.links(_rows(old, _ENDORSEMENT), "endorser", lists, endorsers)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot import {where}: {db_reason(exc)}") from None
    finally:
        source.dispose()
    for skipped in report.skipped:
        logger.warning("legacy import: skipped %s", skipped)
    return report
