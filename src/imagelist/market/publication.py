"""Publishing the marketplace's signed lists (ADR 0020).

:func:`publish_appliance` and :func:`publish_vo_list` build the list (:mod:`.listbuild`), sign it
with the service certificate (:mod:`.signing`), add an immutable :class:`PublishedDocument` row to
the caller's session and, **once that session commits**, write the files under
``<data dir>/store`` (:mod:`.storefiles`):

* ``image.list``: the S/MIME message (what vmcatcher, cloudkeeper and atrope fetch);
* ``image.list.json``: the exact signed JSON bytes;
* ``image.list.json.asc``: a detached signature, when a detached signer is registered;
* ``endorsed/image.list`` (appliances): the endorser's original signed list of the published
  version, when it was imported.

A rolled-back session writes nothing. Two writers never go backwards: a directory's files are
replaced only by a higher ``hv:version`` (under a lock on the directory).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from ..db.market.models import (
    Appliance,
    ApplianceVersion,
    Image,
    ImageInstance,
    Person,
    PublishedDocument,
    Vo,
    VoList,
    VoListEntry,
)
from ..errors import MarketPublishError
from . import openpgp_signing  # noqa: F401  (registers the OpenPGP signer, ADR 0021)
from .common import now as current_time
from .listbuild import (
    ImageEntry,
    ListHeader,
    ServiceEndorser,
    build_document,
    encode_list,
    next_hv_version,
)
from .publishfiles import after_commit, write_document
from .signing import detached_signature, load_service_signer
from .storefiles import StoreDirectory, safe_component

__all__ = [
    "DEFAULT_VO_LIST_DAYS",
    "PublicationSettings",
    "appliance_list_path",
    "publish_appliance",
    "publish_vo_list",
    "vo_list_path",
    "write_document",
]

logger = logging.getLogger(__name__)

#: Lifetime of a VO-wide list: short, so ``imagelist-market resign --due`` keeps it fresh.
DEFAULT_VO_LIST_DAYS = 30
DEFAULT_CREATOR = "imagelist marketplace"


@dataclass(frozen=True)
class PublicationSettings:
    """What publishing needs from the market's settings."""

    base_url: str
    store_root: Path
    service_cert: Path | None
    service_key: Path | None
    creator: str = DEFAULT_CREATOR
    vo_list_days: int = DEFAULT_VO_LIST_DAYS
    #: The OpenPGP key of ``image.list.json.asc`` (:mod:`.openpgp_signing`), if configured.
    openpgp_key: Path | None = None

    @classmethod
    def of(cls, settings: Any) -> PublicationSettings:
        """From :class:`~imagelist.market.settings.MarketSettings` (or this class itself)."""
        if isinstance(settings, PublicationSettings):
            return settings
        return cls(
            base_url=str(settings.public_base_url).rstrip("/"),
            store_root=Path(settings.store_dir),
            service_cert=settings.signer_cert,
            service_key=settings.signer_key,
            creator=str(settings.service_name or DEFAULT_CREATOR),
            vo_list_days=int(settings.vo_list_expiry_days),
            openpgp_key=getattr(settings, "openpgp_key", None),
        )


def appliance_list_path(slug: str) -> tuple[str, ...]:
    """Store path (components) of an appliance's list directory."""
    return ("vappliance", slug)


def vo_list_path(vo: str) -> tuple[str, ...]:
    """Store path (components) of a VO's list directory."""
    return ("vo", vo)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _previous_version(session: Session, kind: str, subject_id: int) -> str | None:
    return session.scalars(
        select(PublishedDocument.hv_version)
        .where(PublishedDocument.kind == kind, PublishedDocument.subject_id == subject_id)
        .order_by(PublishedDocument.id.desc())
        .limit(1)
    ).first()


def _endorser(config: PublicationSettings) -> tuple[ServiceEndorser, Any]:
    signer = load_service_signer(config.service_cert, config.service_key)
    return ServiceEndorser(signer.dn, signer.ca, signer.email, config.creator), signer


def _image_rows(session: Session, where: Any, entry_join: Any) -> Sequence[Any]:
    """One row per image instance of the versions ``where`` selects, in VO-list entry order
    when ``entry_join`` joins the entries (one query, no ORM objects: a VO list of 1,000
    images loads in milliseconds)."""
    rows: Sequence[Any] = session.execute(
        select(
            VoListEntry.id.label("entry_id"),
            ApplianceVersion.id.label("version_id"),
            ApplianceVersion.version,
            ApplianceVersion.state,
            ApplianceVersion.expires_at,
            Appliance.slug,
            Person.id.label("owner_id"),
            Person.display_name,
            ImageInstance.id.label("instance_id"),
            ImageInstance.uuid.label("instance_uuid"),
            ImageInstance.uri,
            ImageInstance.format,
            ImageInstance.hypervisors,
            ImageInstance.size,
            ImageInstance.sha512,
            ImageInstance.arch,
            ImageInstance.os_family,
            ImageInstance.os_name,
            ImageInstance.os_version,
            ImageInstance.image_version,
            ImageInstance.comments,
            ImageInstance.cores_min,
            ImageInstance.cores_rec,
            ImageInstance.ram_min,
            ImageInstance.ram_rec,
            Image.uuid.label("image_uuid"),
            Image.title,
            Image.description,
            Image.group_name,
        )
        .select_from(ApplianceVersion)
        .join(Appliance, Appliance.id == ApplianceVersion.appliance_id)
        .join(Person, Person.id == Appliance.owner_id)
        .outerjoin(ImageInstance, ImageInstance.version_id == ApplianceVersion.id)
        .outerjoin(Image, Image.id == ImageInstance.image_id)
        .outerjoin(VoListEntry, entry_join)
        .where(where)
        .order_by(VoListEntry.id, ImageInstance.id)
    ).all()
    return rows


@functools.lru_cache(maxsize=4096)
def _person_guid(base_url: str, person_id: int) -> str:
    """``ad:user:guid``: a name-based UUID of the person's URL on this market."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url}/people/{person_id}"))


def _entry(row: Any, identifier: str, mpuri: str, config: PublicationSettings) -> ImageEntry:
    return ImageEntry(
        identifier=identifier,
        title=row.title,
        description=row.description or row.title,
        group=row.group_name,
        uri=row.uri,
        format=row.format,
        hypervisors=tuple(row.hypervisors or ()),
        size=row.size,
        sha512=row.sha512,
        arch=row.arch,
        os_family=row.os_family,
        os_name=row.os_name,
        os_version=row.os_version,
        version=row.image_version or row.version,
        comments=row.comments or "",
        expires=_utc(row.expires_at),
        mpuri=mpuri,
        user_fullname=row.display_name,
        user_guid=_person_guid(config.base_url, row.owner_id),
        user_uri=f"{config.base_url}/people/{row.owner_id}",
        cores_minimum=row.cores_min,
        cores_recommended=row.cores_rec,
        ram_minimum=row.ram_min,
        ram_recommended=row.ram_rec,
    )


def _usable(version: ApplianceVersion, now: datetime) -> bool:
    return version.state == "published" and _utc(version.expires_at) > now


def publish_appliance(session: Session, appliance: Appliance, settings: Any) -> PublishedDocument:
    """Sign and record the per-appliance list of ``appliance``'s published version.

    The files are written when ``session`` commits. Raises MarketPublishError (88) if there is
    no published, unexpired version, MarketSettingsError (87) if the service credentials fail.
    """
    config = PublicationSettings.of(settings)
    if not safe_component(appliance.slug):
        raise MarketPublishError(f"appliance slug {appliance.slug!r} cannot be a store path")
    now = current_time()
    version = session.scalars(
        select(ApplianceVersion).where(
            ApplianceVersion.appliance_id == appliance.id, ApplianceVersion.state == "published"
        )
    ).first()
    if version is None:
        raise MarketPublishError(f"appliance {appliance.slug} has no published version")
    if not _usable(version, now):
        raise MarketPublishError(
            f"version {version.version} of appliance {appliance.slug} expired at "
            f"{_utc(version.expires_at):%Y-%m-%dT%H:%M:%SZ}"
        )
    endorser, signer = _endorser(config)
    uri = f"{config.base_url}/store/vappliance/{appliance.slug}/image.list"
    header = ListHeader(
        identifier=appliance.uuid,
        title=appliance.title,
        description=appliance.description or f"Image list of the appliance {appliance.title}.",
        source=config.base_url + "/",
        uri=uri,
        version=next_hv_version(_previous_version(session, "va", appliance.id), now),
        created=now,
        expires=_utc(version.expires_at),
        endorser=endorser,
    )
    rows = _image_rows(session, ApplianceVersion.id == version.id, false())
    entries = [
        _entry(
            row,
            row.image_uuid,
            f"{config.base_url}/store/vm/image/{row.instance_uuid}:{row.instance_id}/",
            config,
        )
        for row in rows
        if row.instance_id is not None
    ]
    StoreDirectory(config.store_root).write(appliance_list_path(appliance.slug), {})
    document = _record(session, "va", appliance.id, header, entries, signer.sign, config)
    endorsed = version.endorsed_list if version.endorsed_list else None
    after_commit(
        session, config.store_root, appliance_list_path(appliance.slug), document, endorsed, True
    )
    logger.info("appliance %s list version %s signed", appliance.slug, header.version)
    return document


def publish_vo_list(session: Session, vo: Vo, settings: Any) -> PublishedDocument:
    """Sign and record the VO-wide list of ``vo``'s published list (new ``hv:version``).

    Entries whose appliance version is no longer published or has expired are left out (the
    API flags them to the VO's managers). Sets the list's ``hv_version`` and ``expires_at``.
    """
    config = PublicationSettings.of(settings)
    if not safe_component(vo.name):
        raise MarketPublishError(f"VO name {vo.name!r} cannot be a store path")
    vo_list = session.scalars(
        select(VoList).where(VoList.vo_id == vo.id, VoList.state == "published")
    ).first()
    if vo_list is None:
        raise MarketPublishError(f"VO {vo.name} has no published list")
    now = current_time()
    endorser, signer = _endorser(config)
    previous = _previous_version(session, "vo", vo.id)
    if vo_list.hv_version is not None and (previous is None or vo_list.hv_version > previous):
        previous = vo_list.hv_version
    hv_version = next_hv_version(previous, now)
    expires = now + timedelta(days=config.vo_list_days)
    header = ListHeader(
        identifier=vo_list.uuid,
        title=vo_list.title or f"VO-wide image list of {vo.name}",
        description=vo_list.description or f"This is a VO-wide image list for {vo.name} VO.",
        source=config.base_url + "/",
        uri=f"{config.base_url}/store/vo/{vo.name}/image.list",
        version=hv_version,
        created=now,
        expires=expires,
        endorser=endorser,
        vo=vo.name,
    )
    entries: list[ImageEntry] = []
    left_out: set[int] = set()
    namespace = uuid.UUID(vo_list.uuid)
    rows = _image_rows(
        session,
        VoListEntry.vo_list_id == vo_list.id,
        (VoListEntry.appliance_version_id == ApplianceVersion.id)
        & (VoListEntry.vo_list_id == vo_list.id),
    )
    for row in rows:
        if row.state != "published" or _utc(row.expires_at) <= now:
            if row.version_id not in left_out:
                left_out.add(row.version_id)
                logger.warning(
                    "VO %s: version %s of appliance %s is %s: left out of the list",
                    vo.name,
                    row.version,
                    row.slug,
                    "expired" if row.state == "published" else row.state,
                )
            continue
        if row.instance_id is None:
            continue
        image_id = str(uuid.uuid5(namespace, row.image_uuid))  # = vo_image_id(list, image)
        entries.append(
            _entry(
                row,
                image_id,
                f"{config.base_url}/store/vo/image/{image_id}:{row.instance_id}/",
                config,
            )
        )
    StoreDirectory(config.store_root).write(vo_list_path(vo.name), {})  # fails before the DB
    document = _record(session, "vo", vo.id, header, entries, signer.sign, config)
    vo_list.hv_version = hv_version
    vo_list.expires_at = expires
    after_commit(session, config.store_root, vo_list_path(vo.name), document, None, False)
    logger.info("VO %s list version %s signed (%d images)", vo.name, hv_version, len(entries))
    return document


def _record(
    session: Session,
    kind: str,
    subject_id: int,
    header: ListHeader,
    entries: Sequence[ImageEntry],
    sign: Any,
    config: PublicationSettings,
) -> PublishedDocument:
    payload = encode_list(build_document(header, entries))
    smime: bytes = sign(payload)
    document = PublishedDocument(
        kind=kind,
        subject_id=subject_id,
        hv_version=header.version,
        json=payload,
        smime=smime,
        pgp_sig=detached_signature(payload, config),
        sha256=hashlib.sha256(smime).hexdigest(),
        expires_at=header.expires,
        created=header.created,
    )
    session.add(document)
    session.flush()
    return document
