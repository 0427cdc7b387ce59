"""The fetch-and-verify step of ``-U`` for the OpenPGP signature policies (ADR 0021).

Kept apart from :mod:`imagelist.subscriber.update`, which calls these for a subscription whose
``signature_policy`` is not ``smime``; every error is a typed :class:`ImageListError` that the
update turns into a refusal with its exit code, writing nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from ..companions import companion_names
from ..db.subscriber.models import Subscription
from ..fetch import Fetcher
from ..openpgp import Certificate
from ..verify import VerifiedList
from .decide import NotModified, Received, SubscriptionState
from .openpgp_check import (
    fetch_companion,
    fetch_signature,
    verify_beside_smime,
    verify_companions,
)
from .openpgp_list import OpenPGPList

__all__ = ["check_both", "fetch_openpgp_only"]


def fetch_openpgp_only(
    fetcher: Fetcher,
    subscription: Subscription,
    state: SubscriptionState,
    certificates: Sequence[tuple[Certificate, int]],
    *,
    now: datetime,
) -> Received | NotModified:
    """Policy ``openpgp``: ``<uri>.json`` (conditional GET) and its ``.asc``; no S/MIME."""
    etag, last_modified = state.validators()
    json_url, asc_url = companion_names(subscription.uri)
    fetched = fetch_companion(
        fetcher,
        json_url,
        username=subscription.username,
        password=subscription.password,
        etag=etag,
        last_modified=last_modified,
    )
    if fetched.not_modified or fetched.data is None:
        return NotModified()
    signature = fetch_companion(
        fetcher, asc_url, username=subscription.username, password=subscription.password
    ).data
    imagelist, signed, link = verify_companions(
        fetched.data, signature or b"", certificates, now=now
    )
    return Received(
        verified=OpenPGPList(imagelist, signed, link),
        data=fetched.data,
        data_hash=hashlib.sha512(fetched.data).hexdigest(),
        url=fetched.url,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
    )


def check_both(
    fetcher: Fetcher,
    subscription: Subscription,
    verified: VerifiedList,
    certificates: Sequence[tuple[Certificate, int]],
    *,
    now: datetime,
) -> int:
    """Policy ``smime+openpgp``, after S/MIME verified: the companions agree and verify.

    Returns the link of the endorser whose certificate signed (decide checks it is the S/MIME
    signer's).
    """
    json, signature = fetch_signature(
        fetcher, subscription.uri, username=subscription.username, password=subscription.password
    )
    _, link = verify_beside_smime(
        json, signature, certificates, smime_payload=verified.payload, now=now
    )
    return link
