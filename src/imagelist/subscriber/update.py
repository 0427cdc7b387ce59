"""``vmcatcher_subscribe -U``: fetch → verify → decide (pure) → persist (one transaction) → emit.

One :class:`Updater` per run: the trust store is loaded once, one HTTP session is reused
(keep-alive), each signer's certificate path is validated once, and the subscriptions' state is
read with a handful of queries for all of them. Then, per subscription in database order:

1. **fetch** the list (conditional GET with the accepted list's ETag/Last-Modified);
2. **verify** it (S/MIME, trust path, document, hv:dn/hv:ca: reference §1.5 steps 2-6);
3. **decide** (:func:`~imagelist.subscriber.decide.decide`, pure) what changes;
4. **persist** the plan in one transaction: a failure leaves nothing half written;
5. **emit** SubscriptionImageNew for new image ids, after the commit.

Each subscription runs inside its own error boundary: whatever goes wrong (a bad list, a
database error, a bug) rolls that subscription's transaction back, is reported in its summary
line with its exit code, and the run goes on with the next one. The run's exit code is the worst
result (:func:`exit_code`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..companions import SignaturePolicy
from ..db.engine import database_error, reader, transaction
from ..db.subscriber.models import (
    EndorserPrincipal,
    ImageDefinition,
    ImageInstance,
    ImageListInstance,
    Subscription,
    SubscriptionAuth,
)
from ..errors import EXIT_INTERNAL_ERROR, DatabaseError, ImageListError
from ..events import EventDispatcher, EventType, HandlerResult, image_new_metadata
from ..fetch import Fetcher
from ..monitoring.record import UpdateRecord, record_updates
from ..openpgp import Certificate
from ..trust import CrlPolicy, TrustStore
from ..trust.keys import KeyPolicy
from ..urls import redact_url
from ..verify import ListVerifier
from .decide import (
    ChangeKind,
    Failed,
    KnownImage,
    NotModified,
    Outcome,
    Plan,
    Policy,
    Received,
    StoredList,
    SubscriptionState,
    decide,
)
from .openpgp_certs import subscription_certificates
from .openpgp_update import check_both, fetch_openpgp_only

__all__ = ["RunVerifier", "UpdateResult", "Updater", "exit_code"]

logger = logging.getLogger(__name__)

_IN_CHUNK = 500  # ids per IN (...) query


class RunVerifier(ListVerifier):
    """A ListVerifier for one run of many lists: each signer's path is validated once."""

    def __init__(
        self,
        store: TrustStore,
        *,
        crl_policy: CrlPolicy = CrlPolicy.REQUIRE,
        key_policy: KeyPolicy | None = None,
    ) -> None:
        super().__init__(store, crl_policy=crl_policy, remember_paths=True, key_policy=key_policy)


@dataclass(frozen=True)
class UpdateResult:
    """What happened to one subscription (one summary line)."""

    subscription: str
    uri: str
    outcome: Outcome
    exit_code: int
    message: str
    plan: Plan
    events: tuple[HandlerResult, ...] = ()

    def line(self) -> str:
        """``<subscription>\\t<exit code>\\t<outcome>\\t<message>``."""
        return f"{self.subscription}\t{self.exit_code}\t{self.outcome}\t{self.message}"


class ConcurrentUpdateError(Exception):
    """Another run changed the subscription between reading and writing (rolled back)."""


#: Exit codes that are worse than any verdict on a list, worst first: an internal error (a bug,
#: 70), then a database error (36). Every other code is a verdict on one list.
SEVERITY = (EXIT_INTERNAL_ERROR, 36)


def exit_code(results: Sequence[UpdateResult]) -> int:
    """The run's exit code: the worst result; 0 if all went well.

    "Worst" is: 70 (internal error) if any subscription had one, else 36 (database error) if
    any had one, else the last non-zero code in database order, as vmcatcher 0.6 returned it.
    """
    codes = [result.exit_code for result in results if result.exit_code]
    for severe in SEVERITY:
        if severe in codes:
            return severe
    return codes[-1] if codes else 0


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[start : start + _IN_CHUNK] for start in range(0, len(items), _IN_CHUNK)]


class Updater:
    """Updates subscriptions against one database, trust store, HTTP session and clock."""

    def __init__(
        self,
        engine: Engine,
        store: TrustStore,
        *,
        fetcher: Fetcher,
        dispatcher: EventDispatcher | None = None,
        policy: Policy | None = None,
        crl_policy: CrlPolicy = CrlPolicy.REQUIRE,
        dry_run: bool = False,
        now: datetime | None = None,
        key_policy: KeyPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.fetcher = fetcher
        self.dispatcher = dispatcher
        self.policy = policy or Policy()
        self.dry_run = dry_run
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self.verifier = RunVerifier(store, crl_policy=crl_policy, key_policy=key_policy)
        #: per subscription id: its endorsers' OpenPGP certificates and links (ADR 0021)
        self.openpgp: dict[int, list[tuple[Certificate, int]]] = {}

    # --- reading the state ---------------------------------------------------------------------

    def _load(
        self, identifiers: Collection[str] | None
    ) -> list[tuple[Subscription, SubscriptionState]]:
        with reader(self.engine) as session:
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
                .join(
                    EndorserPrincipal, EndorserPrincipal.endorser_id == SubscriptionAuth.endorser_id
                )
                .where(SubscriptionAuth.authorised.is_(True))
            )
            for subscription_id, link, dn, ca in session.execute(links):
                principals.setdefault(subscription_id, {})[(dn, ca)] = link
            self.openpgp = subscription_certificates(session)
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

    def _with_images(self, state: SubscriptionState, received: Received) -> SubscriptionState:
        """Add what deciding about the images needs: known ids and the accepted list's images."""
        identifiers = sorted({image.identifier for image in received.verified.imagelist.images})
        known: dict[str, KnownImage] = {}
        latest = state.latest
        with reader(self.engine) as session:
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

    # --- the pipeline ------------------------------------------------------------------------

    def _fetch_and_verify(
        self, subscription: Subscription, state: SubscriptionState
    ) -> Received | NotModified | Failed:
        conditional = state.latest is not None and not state.reimport
        policy = SignaturePolicy(subscription.signature_policy)
        certs = self.openpgp.get(subscription.id, [])
        openpgp_link = None
        try:
            if policy is SignaturePolicy.OPENPGP:
                return fetch_openpgp_only(self.fetcher, subscription, state, certs, now=self.now)
            fetched = self.fetcher.fetch(
                subscription.uri,
                username=subscription.username,
                password=subscription.password,
                etag=state.etag if conditional else None,
                last_modified=state.last_modified if conditional else None,
            )
            if fetched.not_modified or fetched.data is None:
                return NotModified()
            verified = self.verifier.verify(fetched.data, at=self.now)
            if policy is SignaturePolicy.SMIME_OPENPGP:
                openpgp_link = check_both(self.fetcher, subscription, verified, certs, now=self.now)
        except ImageListError as error:
            return Failed(error)
        except Exception as exc:  # a bug must cost one subscription, not the whole run
            logger.debug("subscription %s: unexpected error", state.identifier, exc_info=True)
            text = " ".join(f"{type(exc).__name__}: {exc}".split())
            return Failed(
                ImageListError(
                    f"internal error: {text} (run with -vv)", exit_code=EXIT_INTERNAL_ERROR
                )
            )
        return Received(
            verified=verified,
            data=fetched.data,
            data_hash=hashlib.sha512(fetched.data).hexdigest(),
            url=fetched.url,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            openpgp_link=openpgp_link,
        )

    def update_one(self, subscription: Subscription, state: SubscriptionState) -> UpdateResult:
        """Run the pipeline for one subscription; never raises for bad input or a bad server."""
        outcome = self._fetch_and_verify(subscription, state)
        if isinstance(outcome, Received) and not (
            state.latest is not None
            and state.latest.data_hash == outcome.data_hash
            and not state.reimport
        ):
            state = self._with_images(state, outcome)
        plan = decide(state, outcome, now=self.now, policy=self.policy)
        for warning in plan.warnings:
            logger.warning("subscription %s: %s", state.identifier, warning)
        code, message, result_outcome = plan.exit_code, plan.message, plan.outcome
        events: tuple[HandlerResult, ...] = ()
        written = True
        if plan.writes and not self.dry_run:
            try:
                self._persist(state, plan)
            except ConcurrentUpdateError as exc:
                written = False
                code, result_outcome = 36, Outcome.FAILED
                message = f"database error, nothing written: {exc}"
            except DatabaseError as exc:
                written = False
                code, result_outcome = exc.exit_code, Outcome.FAILED
                message = f"{exc}; nothing written"
        if written and plan.new_images and not self.dry_run and self.dispatcher is not None:
            events = self._emit(plan)
            failed = sorted({e.event.identifier or "-" for e in events if not e.ok})
            if failed:
                message += f"; SubscriptionImageNew handler failed for {', '.join(failed)}"
        logger.info("subscription %s: exit %d: %s", state.identifier, code, message)
        uri = redact_url(subscription.uri)
        return UpdateResult(state.identifier, uri, result_outcome, code, message, plan, events)

    def run(self, identifiers: Collection[str] | None = None) -> list[UpdateResult]:
        """Update every subscription (or those named), in database order, each on its own."""
        loaded = self._load(identifiers)  # a database error here stops the run (exit 36)
        results = [self._guarded(subscription, state) for subscription, state in loaded]
        if not self.dry_run:  # for monitoring: never changes the exit code
            record_updates(
                self.engine,
                [
                    UpdateRecord(state.id, result.exit_code, result.message)
                    for (_, state), result in zip(loaded, results, strict=True)
                ],
                self.now,
            )
        return results

    def _guarded(self, subscription: Subscription, state: SubscriptionState) -> UpdateResult:
        """:meth:`update_one` inside its error boundary: an error costs this subscription only.

        Its transaction is rolled back (or was never opened) and the error becomes its result.
        """
        try:
            return self.update_one(subscription, state)
        except SQLAlchemyError as exc:  # not through transaction()/reader(): still one line
            code, text = 36, database_error(self.engine, exc).message
        except ImageListError as exc:
            code, text = exc.exit_code, str(exc)
        except Exception as exc:  # a bug must cost one subscription, not the whole run
            logger.debug("subscription %s: unexpected error", state.identifier, exc_info=True)
            code = EXIT_INTERNAL_ERROR
            text = " ".join(f"internal error: {type(exc).__name__}: {exc}".split())
            text += " (run with -vv for the traceback)"
        logger.info("subscription %s: exit %d: %s", state.identifier, code, text)
        plan = Plan(state.identifier, Outcome.FAILED, code, text)
        return UpdateResult(
            state.identifier, redact_url(subscription.uri), Outcome.FAILED, code, text, plan
        )

    # --- writing -------------------------------------------------------------------------------

    def _persist(self, state: SubscriptionState, plan: Plan) -> None:
        now = self.now
        with transaction(self.engine) as session:
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
                    insert(ImageDefinition).returning(
                        ImageDefinition.id, ImageDefinition.identifier
                    ),
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

    def _emit(self, plan: Plan) -> tuple[HandlerResult, ...]:
        assert self.dispatcher is not None
        results: list[HandlerResult] = []
        for image in plan.new_images:
            results.extend(
                self.dispatcher.emit(EventType.SUBSCRIPTION_IMAGE_NEW, image_new_metadata(image))
            )
        return tuple(results)
