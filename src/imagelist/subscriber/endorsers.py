"""Endorsers: who may sign which subscription's list (``vmcatcher_endorser``).

An endorser is a local name (any one-line text, e.g. ``'Alvaro Simon'``) with one or more
principals, each a (subject DN, issuer DN) pair in the OpenSSL 3 one-line form (a DN typed in
the RFC 4514 comma form is converted to it, :func:`~imagelist.trust.typed_dn.normalise_typed_dn`).
A DN belongs to one endorser only. Linking an endorser to a subscription authorises it to sign
that list; unlinking removes the lists it signed for that subscription, so their images stop
being available.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from ..db.engine import reader, transaction
from ..db.subscriber.models import (
    Endorser,
    EndorserOpenpgpCert,
    EndorserPrincipal,
    Subscription,
    SubscriptionAuth,
)
from ..errors import EndorserRegistryError, SelectionError, UsageError
from ..openpgp import Certificate
from ..trust.typed_dn import normalise_typed_dn
from .openpgp_certs import store_certificates
from .records import SubscriptionRecord

__all__ = [
    "EndorserRecord",
    "LinkRecord",
    "create_endorser",
    "delete_endorser",
    "endorser_details",
    "link_endorser",
    "list_endorsers",
    "list_links",
    "unlink_endorser",
]

logger = logging.getLogger(__name__)

_MAX_TEXT = 1024


@dataclass(frozen=True)
class EndorserRecord:
    """An endorser and its (dn, ca) principals."""

    identifier: str
    principals: tuple[tuple[str, str], ...]
    subscriptions: tuple[SubscriptionRecord, ...] = ()
    #: fingerprints of its OpenPGP certificates (ADR 21)
    openpgp: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkRecord:
    """One endorser-subscription link."""

    endorser: str
    subscription: str
    authorised: bool


def _check_text(what: str, value: str) -> str:
    if not value or not value.strip():
        raise UsageError(f"{what} must not be empty")
    if len(value) > _MAX_TEXT or any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise UsageError(f"{what} {value[:60]!r} must be one line of printable text")
    return value


def _pair(dns: Sequence[str], issuers: Sequence[str]) -> list[tuple[str, str]]:
    """DNs paired with issuers by position; a single issuer applies to every DN."""
    if not dns:
        raise UsageError("give the endorser's certificate subject with --dn")
    if not issuers:
        raise UsageError("give the issuer of the endorser's certificate with --issuer")
    if len(issuers) == 1:
        issuers = list(issuers) * len(dns)
    if len(issuers) != len(dns):
        raise UsageError(f"{len(dns)} --dn values but {len(issuers)} --issuer values")
    return [
        (
            normalise_typed_dn(_check_text("DN", dn), "DN")[0],
            normalise_typed_dn(_check_text("issuer DN", ca), "issuer DN")[0],
        )
        for dn, ca in zip(dns, issuers, strict=True)
    ]


def _endorser(session: Session, identifier: str) -> Endorser:
    endorser = session.scalars(select(Endorser).where(Endorser.identifier == identifier)).first()
    if endorser is None:
        raise SelectionError(f"no endorser {identifier!r}")
    return endorser


def _subscription(session: Session, identifier: str) -> Subscription:
    subscription = session.scalars(
        select(Subscription).where(Subscription.identifier == identifier)
    ).first()
    if subscription is None:
        raise SelectionError(f"no subscription {identifier!r}")
    return subscription


def create_endorser(
    engine: Engine,
    identifier: str,
    dns: Sequence[str],
    issuers: Sequence[str],
    *,
    openpgp: Sequence[Certificate] = (),
) -> int:
    """Create the endorser (or add principals to it); returns the number of principals added.

    ``openpgp``: OpenPGP certificates stored with it in the same transaction (ADR 0021); with
    them, DNs are optional (an endorser outside the IGTF).
    Raises EndorserRegistryError (12) if a DN already belongs to another endorser or to this
    one with another issuer, or a certificate to another endorser.
    """
    _check_text("endorser id", identifier)
    pairs = _pair(dns, issuers) if dns or issuers or not openpgp else []
    added = 0
    with transaction(engine) as session:
        endorser = session.scalars(
            select(Endorser).where(Endorser.identifier == identifier)
        ).first()
        if endorser is None:
            endorser = Endorser(identifier=identifier)
            session.add(endorser)
            session.flush()
        for dn, ca in pairs:
            taken = session.scalars(
                select(EndorserPrincipal).where(EndorserPrincipal.hv_dn == dn)
            ).first()
            if taken is not None:
                if taken.endorser_id == endorser.id and taken.hv_ca == ca:
                    continue
                owner = session.get_one(Endorser, taken.endorser_id).identifier
                raise EndorserRegistryError(
                    f"DN {dn!r} is already registered to endorser {owner!r} "
                    f"(issuer {taken.hv_ca!r})"
                )
            session.add(EndorserPrincipal(hv_dn=dn, hv_ca=ca, endorser_id=endorser.id))
            added += 1
        if openpgp:
            store_certificates(session, endorser, openpgp)
    return added


def delete_endorser(engine: Engine, identifier: str) -> None:
    """Delete an endorser, its principals and its links (and the lists it signed)."""
    with transaction(engine) as session:
        endorser = _endorser(session, identifier)
        session.execute(delete(Endorser).where(Endorser.id == endorser.id))


def link_endorser(engine: Engine, identifier: str, subscription: str) -> bool:
    """Authorise an endorser to sign a subscription's list; False if it already was."""
    with transaction(engine) as session:
        endorser = _endorser(session, identifier)
        target = _subscription(session, subscription)
        existing = session.scalars(
            select(SubscriptionAuth).where(
                SubscriptionAuth.endorser_id == endorser.id,
                SubscriptionAuth.subscription_id == target.id,
            )
        ).first()
        if existing is not None:
            return False
        session.add(
            SubscriptionAuth(subscription_id=target.id, endorser_id=endorser.id, authorised=True)
        )
    return True


def unlink_endorser(engine: Engine, identifier: str, subscription: str) -> None:
    """Remove a link (and, through it, the lists that endorser signed for the subscription)."""
    with transaction(engine) as session:
        endorser = _endorser(session, identifier)
        target = _subscription(session, subscription)
        removed = session.execute(
            delete(SubscriptionAuth).where(
                SubscriptionAuth.endorser_id == endorser.id,
                SubscriptionAuth.subscription_id == target.id,
            )
        )
        if not removed.rowcount:  # type: ignore[attr-defined]
            raise SelectionError(f"endorser {identifier!r} is not linked to {subscription!r}")


def _principals(session: Session, endorser_id: int) -> tuple[tuple[str, str], ...]:
    rows = session.execute(
        select(EndorserPrincipal.hv_dn, EndorserPrincipal.hv_ca)
        .where(EndorserPrincipal.endorser_id == endorser_id)
        .order_by(EndorserPrincipal.id)
    )
    return tuple((dn, ca) for dn, ca in rows)


def list_endorsers(engine: Engine) -> list[EndorserRecord]:
    """Every endorser with its principals, in database order."""
    with reader(engine) as session:
        endorsers = list(session.scalars(select(Endorser).order_by(Endorser.id)))
        return [EndorserRecord(e.identifier, _principals(session, e.id)) for e in endorsers]


def list_links(engine: Engine) -> list[LinkRecord]:
    """Every endorser-subscription link."""
    with reader(engine) as session:
        rows = session.execute(
            select(Endorser.identifier, Subscription.identifier, SubscriptionAuth.authorised)
            .join(SubscriptionAuth, SubscriptionAuth.endorser_id == Endorser.id)
            .join(Subscription, Subscription.id == SubscriptionAuth.subscription_id)
            .order_by(SubscriptionAuth.id)
        )
        return [LinkRecord(e, s, bool(a)) for e, s, a in rows]


def endorser_details(engine: Engine, identifier: str) -> EndorserRecord:
    """An endorser, its principals and the subscriptions it is linked to."""
    with reader(engine) as session:
        endorser = _endorser(session, identifier)
        subscriptions = session.scalars(
            select(Subscription)
            .join(SubscriptionAuth, SubscriptionAuth.subscription_id == Subscription.id)
            .where(SubscriptionAuth.endorser_id == endorser.id)
            .order_by(Subscription.id)
        )
        fingerprints = session.scalars(
            select(EndorserOpenpgpCert.fingerprint)
            .where(EndorserOpenpgpCert.endorser_id == endorser.id)
            .order_by(EndorserOpenpgpCert.id)
        )
        return EndorserRecord(
            endorser.identifier,
            _principals(session, endorser.id),
            tuple(SubscriptionRecord.of(s) for s in subscriptions),
            tuple(fingerprints),
        )
