"""The OpenPGP certificates of endorsers and the signature policy of subscriptions (ADR 0021).

``vmcatcher_endorser --create -e ID --openpgp-cert FILE`` stores each certificate of FILE
(armored) under the endorser; a certificate (primary fingerprint) belongs to one endorser only,
and registering it again merges it into the stored copy (to take in a new expiry or a
revocation; an older copy never takes a revocation away).
``vmcatcher_subscribe --signature-policy`` sets what ``-U`` checks for a subscription.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ..companions import SignaturePolicy
from ..db.engine import reader, transaction
from ..db.subscriber.models import (
    Endorser,
    EndorserOpenpgpCert,
    Subscription,
    SubscriptionAuth,
)
from ..document import ImageList
from ..errors import EndorserRegistryError, OpenPGPMaterialError, SelectionError
from ..fetch import Fetcher
from ..openpgp import Certificate, load_certificates
from .openpgp_check import fetch_signature, verify_beside_smime, verify_companions

__all__ = [
    "all_certificates",
    "openpgp_subscribe_check",
    "set_signature_policy",
    "store_certificates",
    "subscription_certificates",
]


def store_certificates(
    session: Session, endorser: Endorser, certificates: Sequence[Certificate]
) -> int:
    """Store ``certificates`` under ``endorser`` in the caller's transaction; how many were new.

    Raises EndorserRegistryError (12) if one already belongs to another endorser.
    """
    added = 0
    for cert in certificates:
        stored = session.scalars(
            select(EndorserOpenpgpCert).where(EndorserOpenpgpCert.fingerprint == cert.fingerprint)
        ).first()
        if stored is None:
            session.add(
                EndorserOpenpgpCert(
                    endorser_id=endorser.id, fingerprint=cert.fingerprint, certificate=cert.armored
                )
            )
            added += 1
        elif stored.endorser_id != endorser.id:
            owner = session.get_one(Endorser, stored.endorser_id).identifier
            raise EndorserRegistryError(
                f"OpenPGP certificate {cert.fingerprint} is already registered to endorser "
                f"{owner!r}"
            )
        else:  # a refreshed copy (new expiry, revocation) adds to the stored one, never drops
            try:
                stored.certificate = cert.merged_into(
                    _parse(cert.fingerprint, stored.certificate)
                ).armored
            except (
                OpenPGPMaterialError
            ):  # the stored copy no longer parses: the new one replaces it
                stored.certificate = cert.armored
    return added


def _parse(fingerprint: str, armored: str) -> Certificate:
    certs = load_certificates(armored.encode("ascii", errors="replace"), source=fingerprint)
    return certs[0]


def subscription_certificates(session: Session) -> dict[int, list[tuple[Certificate, int]]]:
    """Per subscription id: each certificate of its authorised linked endorsers, with the link.

    A stored certificate that no longer parses is left out (the update then refuses with 61
    or 64 rather than crash).
    """
    rows = session.execute(
        select(
            SubscriptionAuth.subscription_id,
            SubscriptionAuth.id,
            EndorserOpenpgpCert.fingerprint,
            EndorserOpenpgpCert.certificate,
        )
        .join(EndorserOpenpgpCert, EndorserOpenpgpCert.endorser_id == SubscriptionAuth.endorser_id)
        .join(Subscription, Subscription.id == SubscriptionAuth.subscription_id)
        .where(SubscriptionAuth.authorised.is_(True))
        .where(Subscription.signature_policy != SignaturePolicy.SMIME.value)
        .order_by(EndorserOpenpgpCert.id)
    )
    parsed: dict[str, Certificate | None] = {}
    result: dict[int, list[tuple[Certificate, int]]] = {}
    for subscription_id, link, fingerprint, armored in rows:
        if fingerprint not in parsed:
            try:
                parsed[fingerprint] = _parse(fingerprint, armored)
            except OpenPGPMaterialError:
                parsed[fingerprint] = None
        cert = parsed[fingerprint]
        if cert is not None:
            result.setdefault(subscription_id, []).append((cert, link))
    return result


def set_signature_policy(engine: Engine, identifier: str, policy: SignaturePolicy) -> None:
    """Set a subscription's signature policy (1 if there is no such subscription)."""
    with transaction(engine) as session:
        done = session.execute(
            update(Subscription)
            .where(Subscription.identifier == identifier)
            .values(signature_policy=policy.value)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise SelectionError(f"no subscription {identifier!r}")


def all_certificates(engine: Engine) -> list[tuple[Certificate, int]]:
    """Every stored certificate that parses, with the id of its endorser."""
    with reader(engine) as session:
        rows = session.execute(
            select(
                EndorserOpenpgpCert.endorser_id,
                EndorserOpenpgpCert.fingerprint,
                EndorserOpenpgpCert.certificate,
            ).order_by(EndorserOpenpgpCert.id)
        ).all()
    found = []
    for endorser_id, fingerprint, armored in rows:
        try:
            found.append((_parse(fingerprint, armored), endorser_id))
        except OpenPGPMaterialError:
            continue
    return found


def openpgp_subscribe_check(
    engine: Engine,
    fetcher: Fetcher,
    uri: str,
    username: str | None,
    password: str | None,
    smime_payload: bytes | None,
    now: datetime,
) -> tuple[ImageList | None, int]:
    """``-s URL`` under an OpenPGP policy: the companions verify against a registered
    certificate; returns the list they carry and the id of that certificate's endorser."""
    json, signature = fetch_signature(fetcher, uri, username=username, password=password)
    certificates = all_certificates(engine)
    if smime_payload is None:
        imagelist, _, endorser_id = verify_companions(json, signature, certificates, now=now)
        return imagelist, endorser_id
    _, endorser_id = verify_beside_smime(
        json, signature, certificates, smime_payload=smime_payload, now=now
    )
    return None, endorser_id
