"""VO-wide image lists: a draft edited by the VO's managers, deputies and experts, a diff
against the published list, publish and revert (AppDB's workflow).

* A VO endorses one *published, unexpired* version per appliance; adding an appliance that is
  already in the draft with another version replaces it ("update to latest").
* Publishing needs a change; the published list becomes obsolete, the draft becomes the
  published list, and :func:`imagelist.market.publication.publish_vo_list` signs it. The next
  edit starts a new draft from it (same uuid: the list's ``dc:identifier`` is the VO's for life).
* A published list that holds an expired or archived version is flagged (:func:`entry_flag`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.market.models import ApplianceVersion, Vo, VoList, VoListEntry
from ..errors import MarketConflictError, MarketNotFoundError, MarketStateError
from .common import Caller, audit, get_appliance, now, require_vo_role, vo_roles
from .schemas import EntryAdd
from .settings import MarketSettings

__all__ = [
    "add_entry",
    "diff",
    "entry_flag",
    "get_draft",
    "get_published",
    "may_read_published",
    "publish_draft",
    "remove_entry",
    "revert_draft",
]


def get_published(session: Session, vo: Vo) -> VoList | None:
    """The VO's published list, if any."""
    return session.scalars(
        select(VoList).where(VoList.vo_id == vo.id, VoList.state == "published")
    ).first()


def may_read_published(session: Session, caller: Caller, vo: Vo) -> bool:
    """Whether ``caller`` may read the published list of ``vo``: anyone, unless the VO is gated;
    then a token with scope ``vo:<name>:read`` or a role in the VO (a client certificate or a
    web session carries no such scope: only a role opens it to them)."""
    if not vo.gated:
        return True
    return f"vo:{vo.name}:read" in caller.scopes or bool(vo_roles(session, vo, caller.person_id))


def _any_list(session: Session, vo: Vo) -> VoList | None:
    return session.scalars(select(VoList).where(VoList.vo_id == vo.id).order_by(VoList.id)).first()


def get_draft(session: Session, vo: Vo, *, create: bool = True) -> VoList | None:
    """The VO's draft; made from the published list (or empty) when there is none."""
    draft = session.scalars(
        select(VoList).where(VoList.vo_id == vo.id, VoList.state == "draft")
    ).first()
    if draft is not None or not create:
        return draft
    published = get_published(session, vo)
    model = published or _any_list(session, vo)
    if model is None:  # a VO made without the library: start its list now
        import uuid

        list_uuid, title, description = str(uuid.uuid4()), "", ""
    else:
        list_uuid, title, description = model.uuid, model.title, model.description
    draft = VoList(
        vo_id=vo.id,
        uuid=list_uuid,
        state="draft",
        title=title,
        description=description,
        created_at=now(),
    )
    session.add(draft)
    session.flush()
    if published is not None:
        for entry in published.entries:
            draft.entries.append(
                VoListEntry(
                    vo_list_id=draft.id,
                    appliance_id=entry.appliance_id,
                    appliance_version_id=entry.appliance_version_id,
                )
            )
        session.flush()
    return draft


def entry_flag(version: ApplianceVersion, at: datetime | None = None) -> str | None:
    """Why an entry is obsolete (``archived``, ``expired``, ``unpublished``) or None."""
    if version.state == "archived":
        return "archived"
    if version.state != "published":
        return "unpublished"
    if version.expires_at <= (at or now()):
        return "expired"
    return None


def _pairs(vo_list: VoList | None) -> dict[int, ApplianceVersion]:
    return {} if vo_list is None else {e.appliance_id: e.version for e in vo_list.entries}


def diff(draft: VoList, published: VoList | None) -> dict[str, list[dict[str, Any]]]:
    """What publishing ``draft`` would change: added, removed and updated appliances."""
    new, old = _pairs(draft), _pairs(published)

    def show(version: ApplianceVersion) -> dict[str, Any]:
        return {"appliance": version.appliance.slug, "version": version.version, "id": version.id}

    added = [show(v) for k, v in new.items() if k not in old]
    removed = [show(v) for k, v in old.items() if k not in new]
    updated = [
        {**show(v), "from_version": old[k].version, "from_id": old[k].id}
        for k, v in new.items()
        if k in old and old[k].id != v.id
    ]
    return {"added": added, "removed": removed, "updated": updated}


def _changed(delta: dict[str, list[dict[str, Any]]]) -> bool:
    return any(delta.values())


def add_entry(session: Session, caller: Caller, vo: Vo, spec: EntryAdd) -> VoListEntry:
    """Endorse a version (default: the appliance's published one) in the draft."""
    require_vo_role(session, caller, vo)
    appliance = get_appliance(session, spec.appliance)
    query = select(ApplianceVersion).where(ApplianceVersion.appliance_id == appliance.id)
    if spec.version is None:
        query = query.where(ApplianceVersion.state == "published")
    else:
        query = query.where(ApplianceVersion.version == spec.version)
    version = session.scalars(query).first()
    if version is None:
        what = "a published version" if spec.version is None else f"version {spec.version!r}"
        raise MarketNotFoundError(f"appliance {appliance.slug!r} has no {what}")
    flag = entry_flag(version)
    if flag is not None:
        raise MarketStateError(
            f"version {version.version} of {appliance.slug!r} is {flag}: it cannot be added"
        )
    draft = get_draft(session, vo)
    assert draft is not None
    current = next((e for e in draft.entries if e.appliance_id == appliance.id), None)
    if current is not None:
        if current.appliance_version_id == version.id:
            raise MarketConflictError(
                f"the draft of VO {vo.name!r} already holds {appliance.slug} {version.version}"
            )
        current.appliance_version_id = version.id
        session.flush()
        session.expire(current, ["version"])
        entry = current
    else:
        entry = VoListEntry(
            vo_list_id=draft.id, appliance_id=appliance.id, appliance_version_id=version.id
        )
        draft.entries.append(entry)
        session.flush()
    audit(
        session,
        caller,
        "volist.add",
        f"vo:{vo.name}",
        appliance=appliance.slug,
        version=version.version,
    )
    return entry


def remove_entry(session: Session, caller: Caller, vo: Vo, slug: str) -> None:
    """Take an appliance out of the draft."""
    require_vo_role(session, caller, vo)
    draft = get_draft(session, vo)
    assert draft is not None
    entry = next((e for e in draft.entries if e.version.appliance.slug == slug), None)
    if entry is None:
        raise MarketNotFoundError(f"the draft of VO {vo.name!r} does not hold {slug!r}")
    draft.entries.remove(entry)
    session.delete(entry)
    session.flush()
    audit(session, caller, "volist.remove", f"vo:{vo.name}", appliance=slug)


def publish_draft(session: Session, caller: Caller, vo: Vo, settings: MarketSettings) -> VoList:
    """Publish the draft (which must change something and hold no obsolete entry)."""
    from .publication import publish_vo_list

    person = require_vo_role(session, caller, vo)
    draft = get_draft(session, vo)
    assert draft is not None
    published = get_published(session, vo)
    delta = diff(draft, published)
    if not _changed(delta) and published is not None:
        raise MarketStateError(f"the draft of VO {vo.name!r} does not change the published list")
    current = now()
    for entry in draft.entries:
        flag = entry_flag(entry.version, current)
        if flag is not None:
            raise MarketStateError(
                f"version {entry.version.version} of {entry.version.appliance.slug!r} is "
                f"{flag}: remove it or update it before publishing"
            )
    if published is not None:
        published.state = "obsolete"
        session.flush()
    draft.state = "published"
    draft.published_at = current
    draft.published_by = person
    session.flush()
    document = publish_vo_list(session, vo, settings)
    audit(
        session,
        caller,
        "volist.publish",
        f"vo:{vo.name}",
        hv_version=document.hv_version,
        **delta,
    )
    return draft


def revert_draft(session: Session, caller: Caller, vo: Vo) -> VoList:
    """Discard the draft's changes: it becomes the published list again."""
    require_vo_role(session, caller, vo)
    draft = get_draft(session, vo, create=False)
    if draft is not None:
        session.delete(draft)
        session.flush()
    fresh = get_draft(session, vo)
    assert fresh is not None
    audit(session, caller, "volist.revert", f"vo:{vo.name}")
    return fresh
