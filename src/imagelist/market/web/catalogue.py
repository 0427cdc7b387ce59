"""The catalogue's query: published appliances, their images' facets, the VOs endorsing them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ...db.market.models import Appliance, ApplianceVersion, Vo, VoList, VoListEntry

__all__ = ["CatalogueEntry", "Filters", "catalogue", "endorsing_vos"]

FACETS = ("os", "arch", "hypervisor", "format", "vo")


@dataclass(frozen=True)
class Filters:
    q: str = ""
    os: str = ""
    arch: str = ""
    hypervisor: str = ""
    format: str = ""
    vo: str = ""


@dataclass
class CatalogueEntry:
    appliance: Appliance
    version: ApplianceVersion
    os: set[str] = field(default_factory=set)
    arch: set[str] = field(default_factory=set)
    hypervisor: set[str] = field(default_factory=set)
    format: set[str] = field(default_factory=set)
    vo: set[str] = field(default_factory=set)


def endorsing_vos(session: Session) -> dict[int, set[str]]:
    """appliance id -> names of the VOs whose published list holds one of its versions (not
    the gated VOs: what their lists hold is for their token holders and roles only)."""
    rows = session.execute(
        select(VoListEntry.appliance_id, Vo.name)
        .join(VoList, VoList.id == VoListEntry.vo_list_id)
        .join(Vo, Vo.id == VoList.vo_id)
        .where(VoList.state == "published", Vo.gated.is_(False))
    )
    found: dict[int, set[str]] = {}
    for appliance_id, name in rows:
        found.setdefault(appliance_id, set()).add(name)
    return found


def catalogue(
    session: Session, filters: Filters
) -> tuple[list[CatalogueEntry], dict[str, list[str]]]:
    """The appliances with a published version matching ``filters``, and every facet's values."""
    versions = session.scalars(
        select(ApplianceVersion)
        .where(ApplianceVersion.state == "published")
        .options(
            selectinload(ApplianceVersion.appliance),
            selectinload(ApplianceVersion.instances),
        )
    ).all()
    vos = endorsing_vos(session)
    entries: list[CatalogueEntry] = []
    facets: dict[str, set[str]] = {name: set() for name in FACETS}
    for version in versions:
        entry = CatalogueEntry(version.appliance, version, vo=vos.get(version.appliance_id, set()))
        for instance in version.instances:
            entry.os.add(f"{instance.os_family} {instance.os_name} {instance.os_version}".strip())
            entry.arch.add(instance.arch)
            entry.hypervisor.update(instance.hypervisors)
            entry.format.add(instance.format)
        for name in FACETS:
            facets[name].update(getattr(entry, name))
        if _matches(entry, filters):
            entries.append(entry)
    entries.sort(key=lambda e: e.appliance.title.lower())
    return entries, {name: sorted(values) for name, values in facets.items()}


def _matches(entry: CatalogueEntry, filters: Filters) -> bool:
    for name in FACETS:
        wanted = getattr(filters, name)
        if wanted and wanted not in getattr(entry, name):
            return False
    if filters.q:
        text = " ".join(
            [
                entry.appliance.title,
                entry.appliance.slug,
                entry.appliance.description,
                *sorted(entry.os),
            ]
        ).lower()
        if not all(word in text for word in filters.q.lower().split()):
            return False
    return True
