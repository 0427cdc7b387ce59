"""Import of an endorser-signed list (what vmcaster writes) as a new appliance version.

The S/MIME message is verified with the project's trust code against the market's CA
directory (:class:`imagelist.verify.ListVerifier`: signature, certificate path with CRLs,
``hv:dn``/``hv:ca`` equal to the signer), must not be expired, and its signer (DN and CA DN in
the canonical one-line form, as ``vmcatcher_endorser`` stores them) must be the X.509 identity
of an owner or maintainer of the appliance. Each ``hv:image`` becomes an image instance of the
new version: its ``dc:identifier`` is the logical image's uuid (a new logical image when the
appliance has none with that uuid). The signed bytes are kept with the version.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.market.models import (
    Appliance,
    ApplianceMember,
    ApplianceVersion,
    Identity,
)
from ..document import Image as ListImage
from ..errors import (
    ImageListError,
    MarketConflictError,
    MarketError,
    MarketImportError,
    MarketSettingsError,
)
from ..trust.store import TrustStore
from ..verify import ListVerifier, check_dates
from .common import Caller, audit, now, require_member
from .instances import logical_image
from .jobs import start_check
from .schemas import VERSION_PATTERN
from .settings import MarketSettings
from .versions import add_months, new_instance
from .vocab import canonical

__all__ = ["import_signed_list"]

logger = logging.getLogger(__name__)


def _verifier(settings: MarketSettings) -> ListVerifier:
    if settings.ca_dir is None:
        raise MarketSettingsError(
            "the market has no CA directory for signed lists (IMAGELIST_MARKET_CA_DIR)"
        )
    try:
        return ListVerifier(TrustStore.load(settings.ca_dir))
    except ImageListError as exc:
        raise MarketSettingsError(f"cannot load the CA directory: {exc}") from None


def _signer_is_member(session: Session, appliance: Appliance, dn: str, ca: str) -> bool:
    found = session.scalar(
        select(Identity.id)
        .join(ApplianceMember, ApplianceMember.person_id == Identity.person_id)
        .where(
            ApplianceMember.appliance_id == appliance.id,
            Identity.kind == "x509",
            Identity.subject == dn,
            Identity.issuer == ca,
        )
    )
    return found is not None


def _text(image: ListImage, key: str) -> str | None:
    value = image.unrecognized_fields.get(key)
    return None if value is None else str(value)


def _count(image: ListImage, key: str) -> int | None:
    value = image.unrecognized_fields.get(key)
    if value is None or value == "":
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise MarketImportError(
            f"image {image.identifier}: {key} {value!r} is not a number"
        ) from None
    if not 1 <= number <= 1_000_000:
        raise MarketImportError(f"image {image.identifier}: {key} must be 1 to 1000000")
    return number


def _instance_fields(image: ListImage) -> dict[str, object]:
    where = f"image {image.identifier}"
    if not image.has_valid_sha512:
        raise MarketImportError(f"{where}: sl:checksum:sha512 is not 128 hex digits")
    if not image.uri.lower().startswith(("http://", "https://")):
        raise MarketImportError(f"{where}: hv:uri {image.uri!r} is not an http(s) URL")
    try:
        hypervisors = [canonical("hypervisors", h) for h in image.hypervisor.split(",") if h]
        fields: dict[str, object] = {
            "uri": image.uri,
            "format": canonical("formats", image.format or "raw"),
            "hypervisors": hypervisors,
            "arch": canonical("archs", image.arch),
            "os_family": canonical("oses", image.os),
        }
    except MarketError as exc:
        raise MarketImportError(f"{where}: {exc}") from None
    if not hypervisors:
        raise MarketImportError(f"{where}: hv:hypervisor is empty")
    fields.update(
        os_name=_text(image, "sl:osname") or image.os,
        os_version=image.osversion or "unknown",
        size=image.size,
        sha512=image.sha512,
        image_version=image.version or None,
        cores_min=_count(image, "hv:core_minimum"),
        cores_rec=_count(image, "ad:core_recommended"),
        ram_min=_count(image, "hv:ram_minimum"),
        ram_rec=_count(image, "ad:ram_recommended"),
        comments=image.comments or "",
    )
    return fields


def import_signed_list(
    session: Session,
    caller: Caller,
    appliance: Appliance,
    data: bytes,
    settings: MarketSettings,
    *,
    verify: bool = False,
) -> ApplianceVersion:
    """A new version of ``appliance`` from the signed list ``data`` (draft, or verifying)."""
    require_member(session, caller, appliance)
    try:
        verified = _verifier(settings).verify(data)
        check_dates(verified.imagelist)
    except MarketError:
        raise
    except ImageListError as exc:
        raise MarketImportError(f"signed list refused: {exc}") from None
    imagelist = verified.imagelist
    if b"\\u0000" in verified.payload or b"\x00" in verified.payload:
        raise MarketImportError("the signed list holds a NUL character, which cannot be stored")
    if not _signer_is_member(session, appliance, verified.signer_dn, verified.signer_ca):
        raise MarketImportError(
            f"signer {verified.signer_dn!r} (CA {verified.signer_ca!r}) is not the identity of "
            f"an owner or maintainer of appliance {appliance.slug!r}"
        )
    name = imagelist.version.strip()
    if len(name) > 20 or not re.fullmatch(VERSION_PATTERN, name):  # as the API's VersionName
        raise MarketImportError(
            f"hv:version {name!r} is not a version name: 1 to 20 letters, digits, '.', '_', "
            "'+', '~' and '-', starting with a letter or digit"
        )
    taken = session.scalar(
        select(ApplianceVersion.id).where(
            ApplianceVersion.appliance_id == appliance.id, ApplianceVersion.version == name
        )
    )
    if taken is not None:
        raise MarketConflictError(f"appliance {appliance.slug!r} already has version {name!r}")
    if not imagelist.images:
        raise MarketImportError("the signed list holds no usable image")
    current = now()
    expires = min(
        imagelist.expires.astimezone(UTC), add_months(current, settings.max_expiry_months)
    )
    version = ApplianceVersion(
        appliance_id=appliance.id,
        version=name,
        uuid=str(uuid.uuid4()),
        notes=imagelist.description or "",
        state="draft",
        expires_at=expires,
        created_at=current,
        created_by=caller.person_id,
        endorsed_list=data,
        endorsed_dn=verified.signer_dn,
        endorsed_issuer=verified.signer_ca,
    )
    session.add(version)
    session.flush()
    seen: set[int] = set()
    for image in imagelist.images:
        fields = _instance_fields(image)
        logical = logical_image(
            session, version, image.identifier, image.title or image.identifier, image.description
        )
        if logical.id in seen:
            raise MarketImportError(f"image {image.identifier} is listed twice")
        seen.add(logical.id)
        instance = new_instance(version, logical.id, fields)
        session.add(instance)
        version.instances.append(instance)
    session.flush()
    audit(
        session,
        caller,
        "version.import",
        f"version:{version.id}",
        appliance=appliance.slug,
        version=name,
        signer=verified.signer_dn,
        images=len(seen),
    )
    if verify:
        start_check(session, caller, version)
    logger.info("appliance %s: version %s imported (%d images)", appliance.slug, name, len(seen))
    return version
