"""Test support for the publication tests: a service certificate and a seeded market database."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from imagelist.db.market.models import (
    AccessToken,
    Appliance,
    ApplianceVersion,
    Image,
    ImageInstance,
    Person,
    Vo,
    VoList,
    VoListEntry,
)
from imagelist.market.settings import MarketSettings
from tests.pki import ENDORSER_PREFIX, Credential, TestPki, make_endorser

SERVICE_DN = ENDORSER_PREFIX + "Market Service"


def service_credential(test_pki: TestPki) -> Credential:
    """The marketplace's service certificate, issued by the test intermediate CA."""
    return make_endorser(
        test_pki.intermediate,
        SERVICE_DN,
        not_before=test_pki.now - dt.timedelta(days=1),
        not_after=test_pki.now + dt.timedelta(days=300),
    )


def market_settings(base: Path, credential: Credential, **overrides: object) -> MarketSettings:
    """Embedded settings under ``base`` signing with ``credential``."""
    cert, key = credential.write(base / "service")
    values: dict[str, object] = {
        "signer_cert": cert,
        "signer_key": key,
        "public_base_url": "https://market.test",
    }
    values.update(overrides)
    settings = MarketSettings.embedded(base, **values)
    settings.ensure_dirs()
    return settings


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Seeded:
    """Ids of what :func:`seed` made."""

    person_id: int
    appliance_id: int
    version_id: int
    image_uuids: list[str]
    vo_id: int
    vo_list_id: int


def add_version(
    session: Session,
    appliance: Appliance,
    name: str,
    images: list[Image],
    *,
    state: str = "published",
    expires_in: dt.timedelta = dt.timedelta(days=90),
    payloads: dict[str, bytes] | None = None,
    base_url: str = "http://127.0.0.1:9/images",
) -> ApplianceVersion:
    now = _now()
    version = ApplianceVersion(
        appliance_id=appliance.id,
        version=name,
        uuid=str(uuid.uuid4()),
        state=state,
        notes="",
        expires_at=now + expires_in,
        created_at=now,
        published_at=now if state == "published" else None,
    )
    session.add(version)
    session.flush()
    for image in images:
        data = (payloads or {}).get(image.title, f"{image.title} {name}".encode())
        session.add(
            ImageInstance(
                version_id=version.id,
                image_id=image.id,
                uuid=str(uuid.uuid4()),
                uri=f"{base_url}/{image.title}-{name}.img",
                format="raw",
                hypervisors=["KVM", "QEMU"],
                arch="x86_64",
                os_family="Linux",
                os_name="AlmaLinux",
                os_version="9",
                size=len(data),
                sha512=hashlib.sha512(data).hexdigest(),
                cores_min=1,
                ram_min=1024,
                comments="",
                integrity_state="ok",
            )
        )
    session.flush()
    session.refresh(version)
    return version


def seed(
    session: Session,
    *,
    images: int = 2,
    vo_name: str = "vo.example.org",
    gated: bool = False,
    base_url: str = "http://127.0.0.1:9/images",
    payloads: dict[str, bytes] | None = None,
) -> Seeded:
    """A person, an appliance with ``images`` images and a published version, a VO whose
    published list endorses that version."""
    now = _now()
    person = Person(display_name="Ann Endorser", email="ann@example.org", created=now)
    session.add(person)
    session.flush()
    appliance = Appliance(
        slug="alma9",
        uuid=str(uuid.uuid4()),
        title="AlmaLinux 9",
        description="A small AlmaLinux 9 appliance",
        owner_id=person.id,
        created=now,
    )
    session.add(appliance)
    session.flush()
    logical = []
    for index in range(images):
        image = Image(
            appliance_id=appliance.id,
            uuid=str(uuid.uuid4()),
            title=f"img{index}",
            description=f"image {index}",
        )
        session.add(image)
        logical.append(image)
    session.flush()
    version = add_version(session, appliance, "1.0", logical, base_url=base_url, payloads=payloads)
    vo = Vo(name=vo_name, description="", gated=gated, created=now)
    session.add(vo)
    session.flush()
    vo_list = VoList(vo_id=vo.id, uuid=str(uuid.uuid4()), state="published", created_at=now)
    session.add(vo_list)
    session.flush()
    session.add(
        VoListEntry(
            vo_list_id=vo_list.id, appliance_id=appliance.id, appliance_version_id=version.id
        )
    )
    session.flush()
    return Seeded(person.id, appliance.id, version.id, [i.uuid for i in logical], vo.id, vo_list.id)


def add_token(session: Session, person_id: int, scopes: list[str], *, days: int = 30) -> str:
    """A new API token for ``person_id`` with ``scopes``; returns the secret."""
    secret = secrets.token_urlsafe(24)
    session.add(
        AccessToken(
            person_id=person_id,
            name=f"t-{secrets.token_hex(3)}",
            token_sha256=hashlib.sha256(secret.encode()).hexdigest(),
            scopes=scopes,
            created=_now(),
            expires_at=_now() + dt.timedelta(days=days),
        )
    )
    session.flush()
    return secret
