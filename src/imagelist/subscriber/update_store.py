"""The database side of ``vmcatcher_subscribe -U``: read the subscriptions' state, write a plan.

:func:`load_states` reads every subscription's state with a handful of queries;
:func:`with_images` adds what deciding about a received list's images needs;
:func:`persist_plan` writes a :class:`~.decision.Plan` in one transaction, so a failure leaves
nothing half written, and refuses when another run accepted a list meanwhile.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from ..db.engine import reader, transaction
from ..db.subscriber.models import (
    EndorserPrincipal,
    ImageDefinition,
    ImageInstance,
    ImageListInstance,
    Subscription,
    SubscriptionAuth,
)
from .decision import ChangeKind, KnownImage, Plan, Received, StoredList, SubscriptionState

__all__ = ["ConcurrentUpdateError", "load_states", "persist_plan", "with_images"]

_IN_CHUNK = 500  # ids per IN (...) query


class ConcurrentUpdateError(Exception):
    """Another run changed the subscription between reading and writing (rolled back)."""


#: Exit codes that are worse than any verdict on a list, worst first: an internal error (a bug,
#: 70), then a database error (36). Every other code is a verdict on one list.


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[start : start + _IN_CHUNK] for start in range(0, len(items), _IN_CHUNK)]


def load_states(
    engine: Engine, identifiers: Collection[str] | None
) -> list[tuple[Subscription, SubscriptionState]]:
    """The subscriptions (all, or those named) and their state, in a handful of queries."""
    with reader(engine) as session:
        query = select(Subscription).order_by(Subscription.id)
        if identifiers is not None:
            query = query.where(Subscription.identifier.in_(list(identifiers)))
        subscriptions = list(session.scalars(query))
        session.expunge_all()
        principals: dict[int, dict[tuple[str, str], int]] = {}
        links = (
            select(
                SubscriptionAuth.subscription_id,
                SubscriptionAuth.id,
                EndorserPrincipal.hv_dn,
                EndorserPrincipal.hv_ca,
            )
            .join(EndorserPrincipal, EndorserPrincipal.endorser_id == SubscriptionAuth.endorser_id)
            .where(SubscriptionAuth.authorised.is_(True))
        )
        for subscription_id, link, dn, ca in session.execute(links):
            principals.setdefault(subscription_id, {})[(dn, ca)] = link
        latest_ids = [s.imagelist_latest for s in subscriptions if s.imagelist_latest]
        latest: dict[int, StoredList] = {}
        for chunk in range(0, len(latest_ids), _IN_CHUNK):
            rows = session.execute(
                select(
                    ImageListInstance.id,
                    ImageListInstance.data_hash,
                    ImageListInstance.version,
                    ImageListInstance.expires,
                    ImageListInstance.expired,
                ).where(ImageListInstance.id.in_(latest_ids[chunk : chunk + _IN_CHUNK]))
            )
            for row in rows:
                latest[row.id] = StoredList(
                    row.id, row.data_hash, row.version, row.expires, row.expired
                )
    states = []
    for subscription in subscriptions:
        states.append(
            (
                subscription,
                SubscriptionState(
                    id=subscription.id,
                    identifier=subscription.identifier,
                    uri=subscription.uri,
                    list_uri=subscription.list_uri,
                    update_mode=subscription.update_mode,
                    principals=principals.get(subscription.id, {}),
                    latest=latest.get(subscription.imagelist_latest or 0),
                    allow_rollback=subscription.allow_rollback,
                    reimport=subscription.reimport,
                    etag=subscription.http_etag,
                    last_modified=subscription.http_last_modified,
                ),
            )
        )
    return states


def with_images(engine: Engine, state: SubscriptionState, received: Received) -> SubscriptionState:
    """Add what deciding about the images needs: known ids and the accepted list's images."""
    identifiers = sorted({image.identifier for image in received.verified.imagelist.images})
    known: dict[str, KnownImage] = {}
    latest = state.latest
    with reader(engine) as session:
        for chunk in _chunks(identifiers):
            rows = session.execute(
                select(
                    ImageDefinition.identifier,
                    ImageDefinition.id,
                    ImageDefinition.subscription_id,
                    ImageDefinition.cache,
                    Subscription.identifier.label("owner"),
                )
                .join(Subscription, Subscription.id == ImageDefinition.subscription_id)
                .where(ImageDefinition.identifier.in_(chunk))
            )
            for row in rows:
                known[row.identifier] = KnownImage(
                    row.identifier, row.id, row.subscription_id, row.owner, row.cache
                )
        if latest is not None:
            images = session.execute(
                select(ImageDefinition.identifier, ImageInstance.sha512)
                .join(ImageDefinition, ImageDefinition.id == ImageInstance.definition_id)
                .where(ImageInstance.list_instance_id == latest.id)
            )
            latest = replace(latest, images={row[0]: row[1] for row in images})
    return replace(state, known_images=known, latest=latest)


def persist_plan(engine: Engine, state: SubscriptionState, plan: Plan, now: datetime) -> None:
    """Write the plan in one transaction (ConcurrentUpdateError if another run moved first)."""
    with transaction(engine) as session:
        if plan.mark_expired and state.latest is not None:
            session.execute(
                update(ImageListInstance)
                .where(ImageListInstance.id == state.latest.id)
                .where(ImageListInstance.expired.is_(None))
                .values(expired=now)
            )
        if plan.validators is not None:
            session.execute(
                update(Subscription)
                .where(Subscription.id == state.id)
                .values(http_etag=plan.validators[0], http_last_modified=plan.validators[1])
            )
        accept = plan.accept
        if accept is None:
            return
        imagelist = accept.imagelist
        list_id = session.execute(
            insert(ImageListInstance)
            .values(
                data=accept.data,
                data_hash=accept.data_hash,
                expired=None,
                sub_auth=accept.sub_auth,
                imported=now,
                created=imagelist.created,
                expires=imagelist.expires,
                version=imagelist.version,
            )
            .returning(ImageListInstance.id)
        ).scalar_one()
        definitions = {
            change.identifier: change.definition_id
            for change in accept.accepted
            if change.definition_id is not None
        }
        new = [change for change in accept.changes if change.kind is ChangeKind.NEW]
        if new:
            created = session.execute(
                insert(ImageDefinition).returning(ImageDefinition.id, ImageDefinition.identifier),
                [
                    {
                        "identifier": change.identifier,
                        "cache": change.cache,
                        "subscription_id": state.id,
                        "latest": None,
                    }
                    for change in new
                ],
            )
            definitions.update({identifier: id_ for id_, identifier in created})
        instances = [
            {
                "description": image.description,
                "hypervisor": image.hypervisor,
                "sha512": image.sha512,
                "uri": image.uri,
                "os": image.os,
                "osversion": image.osversion,
                "arch": image.arch,
                "version": image.version,
                "size": image.size,
                "title": image.title,
                "comments": image.comments,
                "definition_id": definitions[change.identifier],
                "list_instance_id": list_id,
            }
            for change in accept.accepted
            if (image := change.image) is not None
        ]
        if instances:
            inserted = session.execute(
                insert(ImageInstance).returning(ImageInstance.id, ImageInstance.definition_id),
                instances,
            )
            session.execute(
                update(ImageDefinition),
                [{"id": definition, "latest": instance} for instance, definition in inserted],
            )
        previous = state.latest.id if state.latest is not None else None
        values: dict[str, object] = {
            "imagelist_latest": list_id,
            "updated": now,
            "list_uri": accept.list_uri,
            "http_etag": accept.etag,
            "http_last_modified": accept.last_modified,
            "allow_rollback": False,
            "reimport": False,
        }
        if accept.new_uri is not None:
            values["uri"] = accept.new_uri
        moved = session.execute(
            update(Subscription)
            .where(Subscription.id == state.id)
            .where(
                Subscription.imagelist_latest == previous
                if previous is not None
                else Subscription.imagelist_latest.is_(None)
            )
            .values(**values)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdateError("the subscription was changed by another run meanwhile")
