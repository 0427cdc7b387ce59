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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..companions import SignaturePolicy
from ..db.engine import database_error, reader
from ..db.subscriber.models import Subscription
from ..errors import (
    EXIT_DATABASE_ERROR,
    EXIT_INTERNAL_ERROR,
    DatabaseError,
    ImageListError,
    InternalError,
)
from ..events import EventDispatcher, EventType, HandlerResult, image_new_metadata
from ..fetch import Fetcher
from ..monitoring.record import UpdateRecord, record_updates
from ..oci.source import RegistrySource
from ..openpgp import Certificate
from ..trust import CrlPolicy, TrustStore
from ..trust.keys import KeyPolicy
from ..urls import redact_url
from ..verify import ListVerifier
from .decide import (
    Failed,
    NotModified,
    Outcome,
    Plan,
    Policy,
    Received,
    SubscriptionState,
    decide,
)
from .oci_sources import SOURCE_URI_PREFIX, fetch_source
from .openpgp_certs import subscription_certificates
from .openpgp_update import check_both, fetch_openpgp_only
from .update_store import ConcurrentUpdateError, load_states, persist_plan, with_images

__all__ = ["RunVerifier", "UpdateResult", "Updater", "exit_code"]

logger = logging.getLogger(__name__)


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


SEVERITY = (EXIT_INTERNAL_ERROR, EXIT_DATABASE_ERROR)


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
        oci_sources: Mapping[str, RegistrySource] | None = None,
    ) -> None:
        self.engine = engine
        #: the site file's registry sources by name (``oci-source:NAME`` subscriptions)
        self.oci_sources = dict(oci_sources or {})
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
        states = load_states(self.engine, identifiers)
        with reader(self.engine) as session:
            self.openpgp = subscription_certificates(session)
        return states

    def _with_images(self, state: SubscriptionState, received: Received) -> SubscriptionState:
        """Add what deciding about the images needs: known ids and the accepted list's images."""
        return with_images(self.engine, state, received)

    # --- the pipeline ------------------------------------------------------------------------

    def _fetch_and_verify(
        self, subscription: Subscription, state: SubscriptionState
    ) -> Received | NotModified | Failed:
        etag, last_modified = state.validators()
        policy = SignaturePolicy(subscription.signature_policy)
        certs = self.openpgp.get(subscription.id, [])
        openpgp_link = None
        try:
            if subscription.uri.startswith(SOURCE_URI_PREFIX):
                return fetch_source(
                    self.engine, self.oci_sources, subscription.uri, state, now=self.now
                )
            if policy is SignaturePolicy.OPENPGP:
                return fetch_openpgp_only(self.fetcher, subscription, state, certs, now=self.now)
            fetched = self.fetcher.fetch(
                subscription.uri,
                username=subscription.username,
                password=subscription.password,
                etag=etag,
                last_modified=last_modified,
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
            return Failed(InternalError(f"internal error: {text} (run with -vv)"))
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
                code, result_outcome = EXIT_DATABASE_ERROR, Outcome.FAILED
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
            code, text = EXIT_DATABASE_ERROR, database_error(self.engine, exc).message
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
        persist_plan(self.engine, state, plan, self.now)

    def _emit(self, plan: Plan) -> tuple[HandlerResult, ...]:
        assert self.dispatcher is not None
        results: list[HandlerResult] = []
        for image in plan.new_images:
            results.extend(
                self.dispatcher.emit(EventType.SUBSCRIPTION_IMAGE_NEW, image_new_metadata(image))
            )
        return tuple(results)
