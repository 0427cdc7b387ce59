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

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from ..db.market.models import (
    Appliance,
    ApplianceVersion,
    ImageInstance,
    PublishedDocument,
    Vo,
    VoList,
    VoListEntry,
)
from ..errors import MarketPublishError
from . import openpgp_signing  # noqa: F401  (registers the OpenPGP signer, ADR 0021)
from .listbuild import (
    ImageEntry,
    ListHeader,
    ServiceEndorser,
    build_document,
    encode_list,
    next_hv_version,
    vo_image_id,
)
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
_PENDING = "imagelist.market.pending_store"


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


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


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


def _entry(
    instance: ImageInstance,
    version: ApplianceVersion,
    appliance: Appliance,
    identifier: str,
    mpuri: str,
    config: PublicationSettings,
) -> ImageEntry:
    image = instance.image
    owner = appliance.owner
    return ImageEntry(
        identifier=identifier,
        title=image.title,
        description=image.description or image.title,
        group=image.group_name,
        uri=instance.uri,
        format=instance.format,
        hypervisors=tuple(instance.hypervisors or ()),
        size=instance.size,
        sha512=instance.sha512,
        arch=instance.arch,
        os_family=instance.os_family,
        os_name=instance.os_name,
        os_version=instance.os_version,
        version=instance.image_version or version.version,
        comments=instance.comments or "",
        expires=_utc(version.expires_at),
        mpuri=mpuri,
        user_fullname=owner.display_name,
        user_guid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{config.base_url}/people/{owner.id}")),
        user_uri=f"{config.base_url}/people/{owner.id}",
        cores_minimum=instance.cores_min,
        cores_recommended=instance.cores_rec,
        ram_minimum=instance.ram_min,
        ram_recommended=instance.ram_rec,
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
    now = _now()
    version = session.scalars(
        select(ApplianceVersion)
        .where(ApplianceVersion.appliance_id == appliance.id, ApplianceVersion.state == "published")
        .options(selectinload(ApplianceVersion.instances).selectinload(ImageInstance.image))
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
    entries = [
        _entry(
            instance,
            version,
            appliance,
            instance.image.uuid,
            f"{config.base_url}/store/vm/image/{instance.uuid}:{instance.id}/",
            config,
        )
        for instance in version.instances
    ]
    StoreDirectory(config.store_root).write(appliance_list_path(appliance.slug), {})
    document = _record(session, "va", appliance.id, header, entries, signer.sign, config)
    endorsed = version.endorsed_list if version.endorsed_list else None
    _after_commit(session, config, appliance_list_path(appliance.slug), document, endorsed, True)
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
        select(VoList)
        .where(VoList.vo_id == vo.id, VoList.state == "published")
        .options(
            selectinload(VoList.entries)
            .selectinload(VoListEntry.version)
            .selectinload(ApplianceVersion.instances)
            .selectinload(ImageInstance.image),
            selectinload(VoList.entries)
            .selectinload(VoListEntry.version)
            .selectinload(ApplianceVersion.appliance)
            .selectinload(Appliance.owner),
        )
    ).first()
    if vo_list is None:
        raise MarketPublishError(f"VO {vo.name} has no published list")
    now = _now()
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
    for entry in vo_list.entries:
        version = entry.version
        if not _usable(version, now):
            logger.warning(
                "VO %s: version %s of appliance %s is %s: left out of the list",
                vo.name,
                version.version,
                version.appliance.slug,
                "expired" if version.state == "published" else version.state,
            )
            continue
        for instance in version.instances:
            image_id = vo_image_id(vo_list.uuid, instance.image.uuid)
            entries.append(
                _entry(
                    instance,
                    version,
                    version.appliance,
                    image_id,
                    f"{config.base_url}/store/vo/image/{image_id}:{instance.id}/",
                    config,
                )
            )
    StoreDirectory(config.store_root).write(vo_list_path(vo.name), {})  # fails before the DB
    document = _record(session, "vo", vo.id, header, entries, signer.sign, config)
    vo_list.hv_version = hv_version
    vo_list.expires_at = expires
    _after_commit(session, config, vo_list_path(vo.name), document, None, False)
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


# --- files, once committed -----------------------------------------------------------------------


@dataclass(frozen=True)
class _PendingWrite:
    store: Path
    directory: tuple[str, ...]
    hv_version: str
    smime: bytes
    json: bytes
    signature: bytes | None
    endorsed: bytes | None
    keeps_endorsed: bool


def _after_commit(
    session: Session,
    config: PublicationSettings,
    directory: tuple[str, ...],
    document: PublishedDocument,
    endorsed: bytes | None,
    keeps_endorsed: bool,
) -> None:
    pending: list[_PendingWrite] = session.info.setdefault(_PENDING, [])
    if not session.info.get(_PENDING + ".hooked"):
        session.info[_PENDING + ".hooked"] = True
        event.listen(session, "after_commit", _write_pending)
        event.listen(session, "after_rollback", _drop_pending)
    pending.append(
        _PendingWrite(
            config.store_root,
            directory,
            document.hv_version,
            document.smime,
            document.json,
            document.pgp_sig,
            endorsed,
            keeps_endorsed,
        )
    )


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _write_pending(session: Session) -> None:
    pending: list[_PendingWrite] = session.info.pop(_PENDING, [])
    for write in pending:
        try:
            _write(write)
        except MarketPublishError as exc:
            # The row is committed: the next publication (or resign) writes the files again.
            logger.error("published list %s not written: %s", "/".join(write.directory), exc)


def write_document(store_root: Path, directory: Sequence[str], document: PublishedDocument) -> None:
    """Write an already committed ``document``'s files (e.g. to restore a store from the DB)."""
    _write(
        _PendingWrite(
            store_root,
            tuple(directory),
            document.hv_version,
            document.smime,
            document.json,
            document.pgp_sig,
            None,
            False,
        )
    )


def _on_disk_version(store: StoreDirectory, directory: Sequence[str]) -> str | None:
    current = store.read([*directory, "image.list.json"])
    if current is None:
        return None
    try:
        value = json.loads(current.data)["hv:imagelist"]["hv:version"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value.isdigit() else None


def _write(write: _PendingWrite) -> None:
    store = StoreDirectory(write.store)
    with store.locked(write.directory):
        current = _on_disk_version(store, write.directory)
        if current is not None and int(current) >= int(write.hv_version):
            logger.info(
                "%s already holds version %s: %s not written",
                "/".join(write.directory),
                current,
                write.hv_version,
            )
            return
        if write.keeps_endorsed:
            endorsed_dir = (*write.directory, "endorsed")
            if write.endorsed is not None:
                store.write(endorsed_dir, {"image.list": write.endorsed})
            else:
                with contextlib.suppress(MarketPublishError):
                    store.remove(endorsed_dir, "image.list")
        files = {"image.list.json": write.json}
        if write.signature is not None:
            files["image.list.json.asc"] = write.signature
        files["image.list"] = write.smime
        store.write(write.directory, files)
        if write.signature is None:
            store.remove(write.directory, "image.list.json.asc")
