"""Subscriptions: subscribe, select, show, change and delete.

``subscribe`` follows vmcatcher 0.6 (reference §2.1): fetch, verify (steps 1-6 of §1.5), find
the signer's endorser (or create one with ``auto_endorse``), create the subscription, link the
endorser, and create a definition (not subscribed) for each image of the list. It does not
import the list: ``-U`` does. What changed:

* the subscription fetches from the URL the admin typed (credentials stored apart), not from the
  list's own ``hv:uri``; ``follow_uri`` subscribes at ``hv:uri`` instead (D16, D22);
* list and image ids must be safe identifiers (31);
* an image id owned by another subscription is reported and left with its owner (D8).

Changing the new-image mode, accepting or refusing an image, or resetting trust marks the
subscription for re-import: the next ``-U`` applies the stored list again even if the server
says it has not changed, instead of vmcatcher's reset of ``imagelist_latest`` (which made every
image unavailable until then).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, or_, select
from sqlalchemy.orm import Session

from ..companions import SignaturePolicy
from ..db.engine import reader, transaction
from ..db.subscriber.models import (
    Endorser,
    EndorserPrincipal,
    ImageDefinition,
    ImageListInstance,
    Subscription,
    SubscriptionAuth,
)
from ..document import is_safe_identifier
from ..errors import (
    EndorserRegistryError,
    ImageListError,
    OpenPGPSignerUnknownError,
    SelectionError,
    SubscribeError,
    UnsafeIdentifierError,
    UsageError,
)
from ..fetch import Fetcher
from ..urls import split_credentials
from ..verify import ListVerifier, VerifiedList, check_dates
from .decide import UPDATE_MODE_ACCEPT, UPDATE_MODE_SUBSCRIBE, normalise_uri
from .images import image_states
from .openpgp_certs import openpgp_subscribe_check
from .records import ListRecord, SubscriptionDetails, SubscriptionRecord

__all__ = [
    "KEEP",
    "SubscribeResult",
    "accept_images",
    "delete_subscriptions",
    "list_subscriptions",
    "refuse_images",
    "reset_trust",
    "resolve",
    "set_credentials",
    "set_trust_anchor",
    "set_update_mode",
    "subscribe",
    "subscription_details",
]

logger = logging.getLogger(__name__)

#: Leave a credential as it is (``set_credentials``).
KEEP: object = object()


@dataclass(frozen=True)
class SubscribeResult:
    """What ``-s URL`` did."""

    identifier: str
    uri: str
    created: bool
    endorser: str
    endorser_created: bool = False
    images: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def line(self) -> str:
        """The line ``-s`` prints."""
        if not self.created:
            return f"{self.identifier}\talready subscribed\t{self.uri}"
        return f"{self.identifier}\tsubscribed\t{self.uri}\t{self.images} images"


def _find_endorser(
    session: Session, pairs: Sequence[tuple[str, str]]
) -> tuple[Endorser, EndorserPrincipal] | None:
    for dn, ca in pairs:
        row = session.execute(
            select(Endorser, EndorserPrincipal)
            .join(EndorserPrincipal, EndorserPrincipal.endorser_id == Endorser.id)
            .where(EndorserPrincipal.hv_dn == dn, EndorserPrincipal.hv_ca == ca)
        ).first()
        if row is not None:
            return row[0], row[1]
    return None


def subscribe(
    engine: Engine,
    verifier: ListVerifier,
    fetcher: Fetcher,
    url: str,
    *,
    auto_endorse: bool = False,
    update_mode: int = 0,
    subscribe_images: bool = False,
    follow_uri: bool = False,
    now: datetime | None = None,
    signature_policy: SignaturePolicy = SignaturePolicy.SMIME,
) -> SubscribeResult:
    """Subscribe to the list at ``url`` (credentials in it are stored apart).

    ``signature_policy`` other than ``smime``: the companions are checked as ``-U`` will check
    them (ADR 0021) against every registered OpenPGP certificate, and the certificate that
    signed must be the endorser's.
    """
    when = now or datetime.now(UTC)
    typed, username, password = split_credentials(url.strip())
    verified: VerifiedList | None = None
    signed_by: int | None = None  # the endorser id of the OpenPGP certificate that signed
    if signature_policy is SignaturePolicy.OPENPGP:
        parsed, signed_by = openpgp_subscribe_check(
            engine, fetcher, typed, username, password, None, when
        )
        assert parsed is not None
        imagelist = parsed
    else:
        fetched = fetcher.fetch(typed, username=username, password=password)
        if fetched.data is None:  # pragma: no cover - no validators are sent, so no 304
            raise SubscribeError(f"{typed} sent no list")
        verified = verifier.verify(fetched.data, at=when)
        imagelist = verified.imagelist
        if signature_policy.openpgp:
            _, signed_by = openpgp_subscribe_check(
                engine, fetcher, typed, username, password, verified.payload, when
            )
    if not is_safe_identifier(imagelist.identifier):
        raise UnsafeIdentifierError(
            f"list dc:identifier {imagelist.identifier[:80]!r} is not a safe identifier"
        )
    for image in imagelist.images:
        if not is_safe_identifier(image.identifier):
            raise UnsafeIdentifierError(
                f"image dc:identifier {image.identifier[:80]!r} is not a safe identifier"
            )
    warnings: list[str] = []
    try:
        check_dates(imagelist, now=when)
    except ImageListError as exc:
        warnings.append(f"{exc} (subscribed anyway; -U will refuse it until it is renewed)")
    list_uri = normalise_uri(imagelist.uri)
    uri = list_uri if follow_uri else typed
    if follow_uri and urlsplit(list_uri).scheme.lower() not in ("http", "https", "file"):
        raise SubscribeError(f"the list's hv:uri {list_uri!r} cannot be fetched")
    if list_uri != typed and not follow_uri:
        warnings.append(
            f"the list names its home as {list_uri}; the subscription fetches {typed} "
            "(subscribe with --follow-uri to fetch from the list's home)"
        )
    with transaction(engine, expire_on_commit=False) as session:
        existing = session.scalars(
            select(Subscription).where(
                or_(Subscription.identifier == imagelist.identifier, Subscription.uri == uri)
            )
        ).first()
        if existing is not None:
            if existing.identifier != imagelist.identifier:
                raise SubscribeError(
                    f"{uri} is already subscribed as {existing.identifier}, but now serves "
                    f"list {imagelist.identifier}"
                )
            logger.warning("list %s is already subscribed at %s", existing.identifier, existing.uri)
            return SubscribeResult(
                existing.identifier, existing.uri, False, "", warnings=tuple(warnings)
            )
        endorser_created = False
        if verified is None:
            assert signed_by is not None
            found: tuple[Endorser, EndorserPrincipal | None] | None = (
                session.get_one(Endorser, signed_by),
                None,
            )
        else:
            claimed = (verified.endorser.dn, verified.endorser.ca)
            found = _find_endorser(session, [claimed, (verified.signer_dn, verified.signer_ca)])
        if found is None:
            if not auto_endorse:
                raise SubscribeError(
                    f"endorser {claimed[0]!r} (issuer {claimed[1]!r}) is not registered: "
                    "register it with 'vmcatcher_endorser --create' or subscribe with "
                    "--auto-endorse"
                )
            taken = session.scalars(
                select(EndorserPrincipal).where(EndorserPrincipal.hv_dn == claimed[0])
            ).first()
            if taken is not None:
                raise EndorserRegistryError(
                    f"DN {claimed[0]!r} is registered with another issuer ({taken.hv_ca!r})"
                )
            endorser = Endorser(identifier=str(uuid.uuid4()))
            session.add(endorser)
            session.flush()
            session.add(
                EndorserPrincipal(hv_dn=claimed[0], hv_ca=claimed[1], endorser_id=endorser.id)
            )
            endorser_created = True
            logger.warning(
                "endorser %r (%s) added to the database", endorser.identifier, claimed[0]
            )
        else:
            endorser = found[0]
        if signed_by is not None and signed_by != endorser.id:
            raise OpenPGPSignerUnknownError(
                f"the OpenPGP signature was made by a certificate of another endorser than "
                f"{endorser.identifier!r}"
            )
        subscription = Subscription(
            identifier=imagelist.identifier,
            description=imagelist.description,
            uri=uri,
            authorised=True,
            trust_anchor=0,
            username=username,
            password=password,
            update_mode=update_mode,
            list_uri=list_uri,
            allow_rollback=False,
            reimport=False,
            signature_policy=signature_policy.value,
        )
        session.add(subscription)
        session.flush()
        session.add(
            SubscriptionAuth(
                subscription_id=subscription.id, endorser_id=endorser.id, authorised=True
            )
        )
        owners = {
            row.identifier: row.owner
            for row in session.execute(
                select(ImageDefinition.identifier, Subscription.identifier.label("owner"))
                .join(Subscription, Subscription.id == ImageDefinition.subscription_id)
                .where(ImageDefinition.identifier.in_([i.identifier for i in imagelist.images]))
            )
        }
        created = 0
        for image in {image.identifier: image for image in imagelist.images}.values():
            if image.identifier in owners:
                warnings.append(
                    f"image {image.identifier} belongs to subscription {owners[image.identifier]}; "
                    "not attached"
                )
                continue
            session.add(
                ImageDefinition(
                    identifier=image.identifier,
                    cache=1 if subscribe_images else 0,
                    subscription_id=subscription.id,
                    latest=None,
                )
            )
            created += 1
    for warning in warnings:
        logger.warning("subscribe %s: %s", typed, warning)
    return SubscribeResult(
        imagelist.identifier,
        uri,
        True,
        endorser.identifier,
        endorser_created,
        created,
        tuple(warnings),
    )


def resolve(
    session: Session, uuids: Sequence[str] = (), uris: Sequence[str] = ()
) -> list[Subscription]:
    """The subscriptions named by id (``-u``) or by URI (``-r``); every name must match."""
    if uuids and uris:
        raise UsageError("select subscriptions by --uuid or by --uri, not both")
    found: list[Subscription] = []
    for identifier in uuids:
        subscription = session.scalars(
            select(Subscription).where(Subscription.identifier == identifier)
        ).first()
        if subscription is None:
            raise SelectionError(f"no subscription {identifier!r}")
        found.append(subscription)
    for uri in uris:
        clean = normalise_uri(uri)
        subscription = session.scalars(
            select(Subscription).where(
                or_(Subscription.uri == clean, Subscription.list_uri == clean)
            )
        ).first()
        if subscription is None:
            raise SelectionError(f"no subscription with URI {clean!r}")
        found.append(subscription)
    return found


def list_subscriptions(engine: Engine) -> list[SubscriptionRecord]:
    """Every subscription, in database order."""
    with reader(engine) as session:
        rows = session.scalars(select(Subscription).order_by(Subscription.id))
        return [SubscriptionRecord.of(row) for row in rows]


def subscription_details(session: Session, subscription: Subscription) -> SubscriptionDetails:
    """A subscription with its latest list and its images' states."""
    latest = None
    if subscription.imagelist_latest is not None:
        row = session.get(ImageListInstance, subscription.imagelist_latest)
        latest = None if row is None else ListRecord.of(row)
    return SubscriptionDetails(
        SubscriptionRecord.of(subscription), latest, tuple(image_states(session, subscription.id))
    )


def _mark_reimport(subscription: Subscription) -> None:
    subscription.reimport = True
    subscription.http_etag = None
    subscription.http_last_modified = None


def delete_subscriptions(engine: Engine, uuids: Sequence[str], uris: Sequence[str]) -> list[str]:
    """Delete subscriptions with their definitions, links and lists; cached files are left to
    ``vmcatcher_cache``, which retires them."""
    with transaction(engine) as session:
        subscriptions = resolve(session, uuids, uris)
        ids = [s.id for s in subscriptions]
        names = [s.identifier for s in subscriptions]
        session.execute(delete(Subscription).where(Subscription.id.in_(ids)))
    return names


def set_update_mode(
    engine: Engine, uuids: Sequence[str], uris: Sequence[str], mode: int
) -> list[str]:
    """Set the new-image mode (0 refuse, 1 accept, 3 accept and subscribe) and mark re-import."""
    if mode not in (0, UPDATE_MODE_ACCEPT, UPDATE_MODE_ACCEPT | UPDATE_MODE_SUBSCRIBE):
        raise UsageError(f"invalid new-image mode {mode}")
    with transaction(engine) as session:
        subscriptions = resolve(session, uuids, uris)
        for subscription in subscriptions:
            subscription.update_mode = mode
            _mark_reimport(subscription)
        return [s.identifier for s in subscriptions]


def set_trust_anchor(
    engine: Engine, uuids: Sequence[str], uris: Sequence[str], anchor: int
) -> None:
    """Store the trust anchor (0 none, 1 browser, 2 igtf). https is always verified."""
    with transaction(engine) as session:
        for subscription in resolve(session, uuids, uris):
            subscription.trust_anchor = anchor


def set_credentials(
    engine: Engine,
    uuids: Sequence[str],
    uris: Sequence[str],
    *,
    username: object = KEEP,
    password: object = KEEP,
) -> None:
    """Set (a string) or clear (None) the Basic credentials; anything else is left alone."""
    with transaction(engine) as session:
        for subscription in resolve(session, uuids, uris):
            if username is not KEEP:
                subscription.username = username if isinstance(username, str) else None
            if password is not KEEP:
                subscription.password = password if isinstance(password, str) else None
            subscription.http_etag = None
            subscription.http_last_modified = None


def _pairs(uuids: Sequence[str], images: Sequence[str]) -> list[tuple[str, str]]:
    if len(uuids) != len(images):
        raise UsageError(
            f"{len(images)} images for {len(uuids)} subscriptions: pair each image with one -u"
        )
    return list(zip(uuids, images, strict=True))


def accept_images(engine: Engine, uuids: Sequence[str], images: Sequence[str]) -> None:
    """Create (not subscribed) definitions for image ids on subscriptions, by position."""
    with transaction(engine) as session:
        for sub_uuid, image in _pairs(uuids, images):
            if not is_safe_identifier(image):
                raise UnsafeIdentifierError(f"image id {image[:80]!r} is not a safe identifier")
            (subscription,) = resolve(session, [sub_uuid])
            owner = session.execute(
                select(Subscription.identifier)
                .join(ImageDefinition, ImageDefinition.subscription_id == Subscription.id)
                .where(ImageDefinition.identifier == image)
            ).scalar()
            if owner is not None:
                raise SelectionError(f"subscription {owner} has image {image} already")
            session.add(ImageDefinition(identifier=image, cache=0, subscription_id=subscription.id))
            _mark_reimport(subscription)


def refuse_images(engine: Engine, uuids: Sequence[str], images: Sequence[str]) -> None:
    """Delete image definitions (and their descriptions) from subscriptions, by position."""
    with transaction(engine) as session:
        for sub_uuid, image in _pairs(uuids, images):
            (subscription,) = resolve(session, [sub_uuid])
            definition = session.scalars(
                select(ImageDefinition).where(
                    ImageDefinition.identifier == image,
                    ImageDefinition.subscription_id == subscription.id,
                )
            ).first()
            if definition is None:
                raise SelectionError(f"subscription {sub_uuid} already refuses image {image}")
            session.delete(definition)
            _mark_reimport(subscription)


def reset_trust(engine: Engine, uuids: Sequence[str], uris: Sequence[str]) -> list[str]:
    """Let the next ``-U`` accept a lower version once (recovery after a fast-forward)."""
    with transaction(engine) as session:
        subscriptions = resolve(session, uuids, uris)
        for subscription in subscriptions:
            subscription.allow_rollback = True
            _mark_reimport(subscription)
        return [s.identifier for s in subscriptions]
