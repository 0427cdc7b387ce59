"""The status of a subscriber site as plain data (``vmcatcher_status``).

:func:`gather` reads, and writes nothing: the subscriptions with their accepted list and last
update (database), the signer certificate of each accepted list (its stored signed message),
the CAs of its path and their CRLs (trust store), each image with its state and whether it is
cached or given up (cache indexes), and the events waiting or dead-lettered (outbox files).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import Engine, select

from ..cache.attempts import DEFAULT_MAX_TRIES
from ..companions import is_openpgp_only
from ..db.engine import reader
from ..db.subscriber.models import (
    ImageDefinition,
    ImageInstance,
    ImageListInstance,
    Subscription,
    SubscriptionStatus,
)
from ..errors import ImageListError
from ..smime import read_signed, stored_signer
from ..subscriber.images import available
from ..trust import TrustStore
from ..trust.dn import issuer_oneline, subject_oneline
from ..urls import redact_url

__all__ = [
    "CaStatus",
    "CacheFacts",
    "ImageStatus",
    "SignerStatus",
    "SiteStatus",
    "SubscriptionStatusItem",
    "gather",
    "list_hashes",
    "read_cache",
]

logger = logging.getLogger(__name__)

OUTBOX_NAME = ".vmcatcher_cache.outbox"  # as imagelist.cache.cache.OUTBOX_NAME
DEAD_LETTERS_NAME = ".vmcatcher_cache.dead-letters"
INDEX_NAME = "cache.index"
_MAX_DEPTH = 10


@dataclass(frozen=True)
class CaStatus:
    """A CA of a signer's path and the next update of its newest CRL (None: no CRL)."""

    subject: str
    not_after: datetime
    crl_next_update: datetime | None


@dataclass(frozen=True)
class SignerStatus:
    """The certificate that signed a subscription's accepted list."""

    subject: str
    issuer: str
    not_after: datetime
    path: tuple[CaStatus, ...] = ()
    #: Why the path could not be followed to a trusted root, if it could not.
    problem: str | None = None


@dataclass(frozen=True)
class ImageStatus:
    """An image id of a subscription."""

    identifier: str
    title: str
    version: str
    size: int
    subscribed: bool
    available: bool
    cached: bool
    given_up: bool

    @property
    def state(self) -> str:
        """``cached``, ``given-up``, ``pending`` (wanted, not cached), ``unavailable`` or
        ``not-subscribed``."""
        if self.cached:
            return "cached"
        if not self.subscribed:
            return "not-subscribed"
        if not self.available:
            return "unavailable"
        return "given-up" if self.given_up else "pending"


@dataclass(frozen=True)
class SubscriptionStatusItem:
    """A subscription, its accepted list and its last update."""

    identifier: str
    uri: str
    authorised: bool
    title: str | None
    version: str | None
    list_expires: datetime | None
    list_expired: bool
    last_attempt: datetime | None
    last_success: datetime | None
    last_error: str | None
    last_exit_code: int | None
    signer: SignerStatus | None
    images: tuple[ImageStatus, ...] = ()


@dataclass(frozen=True)
class CacheFacts:
    """What the cache directory holds: index entries, given-up tries, outbox."""

    directory: str
    cached: Mapping[str, int] = field(default_factory=dict)  # id → size
    given_up: frozenset[str] = frozenset()
    events_pending: Mapping[str, int] = field(default_factory=dict)  # event type → count
    events_dead: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SiteStatus:
    """The whole site at ``now``."""

    now: datetime
    subscriptions: tuple[SubscriptionStatusItem, ...]
    cache: CacheFacts | None
    trust_problem: str | None = None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ImageListError(f"cannot read {path}: {exc}") from None


def _events(path: Path) -> dict[str, int]:
    data = _json(path)
    counts: dict[str, int] = {}
    for record in data if isinstance(data, list) else []:
        if isinstance(record, dict):
            kind = str(record.get("type", "unknown"))
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def _tries(entry: Any) -> tuple[int, str | None]:
    tries = entry.get("DownLoadTrys") if isinstance(entry, dict) else None
    if not isinstance(tries, dict):
        return 0, None
    try:
        count = int(tries.get("count", 0))
    except (TypeError, ValueError):
        count = 0
    msg_hash = tries.get("msgHash")
    return count, msg_hash if isinstance(msg_hash, str) else None


def read_cache(
    cache_dir: str | Path,
    partial_dir: str | Path | None = None,
    *,
    max_tries: int = DEFAULT_MAX_TRIES,
    list_hashes: Mapping[str, str] | None = None,
) -> CacheFacts | None:
    """The cache's index, given-up images and outbox; None if the directory does not exist.

    An image is given up when its partial entry records ``max_tries`` failed tries (0: never)
    for the list version the database now has (``list_hashes``: image id → list hash).
    """
    root = Path(cache_dir)
    if not root.is_dir():
        return None
    partial = Path(partial_dir) if partial_dir is not None else root / "partial"
    index = _json(root / INDEX_NAME)
    cached: dict[str, int] = {}
    for key, entry in (index if isinstance(index, dict) else {}).items():
        size: Any = entry.get("hv:size", entry.get("size", 0)) if isinstance(entry, dict) else 0
        try:
            cached[str(key)] = int(size)
        except (TypeError, ValueError):
            cached[str(key)] = 0
    given_up: set[str] = set()
    pending = _json(partial / INDEX_NAME)
    for key, entry in (pending if isinstance(pending, dict) else {}).items():
        count, msg_hash = _tries(entry)
        current = (list_hashes or {}).get(str(key))
        if max_tries and count >= max_tries and (current is None or msg_hash in (None, current)):
            given_up.add(str(key))
    return CacheFacts(
        directory=str(root),
        cached=cached,
        given_up=frozenset(given_up),
        events_pending=_events(root / OUTBOX_NAME),
        events_dead=_events(root / DEAD_LETTERS_NAME),
    )


def _path(signer: x509.Certificate, store: TrustStore) -> tuple[tuple[CaStatus, ...], str | None]:
    """The trusted CAs above ``signer``, each with its newest CRL's next update."""
    path: list[CaStatus] = []
    current = signer
    for _ in range(_MAX_DEPTH):
        issuers = store.issuers_of(current)
        if not issuers:
            return tuple(path), f"issuer {issuer_oneline(current)} is not in the trust directory"
        ca = issuers[0]
        crls = sorted(ca.crls, key=lambda pair: pair[0].last_update_utc)
        next_update = crls[-1][0].next_update_utc if crls else None
        path.append(CaStatus(ca.subject, ca.certificate.not_valid_after_utc, next_update))
        if ca.self_signed:
            return tuple(path), None
        current = ca.certificate
    return tuple(path), f"path longer than {_MAX_DEPTH}"


def _message(
    data: bytes,
    store: TrustStore | None,
    titles: bool = True,
    seen: dict[x509.Certificate, SignerStatus] | None = None,
) -> tuple[str | None, SignerStatus | None]:
    """The list title and signer of a stored signed list (read once, not verified again)."""
    from ..document import ImageList

    title: str | None = None
    if is_openpgp_only(data):  # accepted under the openpgp policy: no X.509 signer (ADR 21)
        if titles:
            with contextlib.suppress(ImageListError):
                title = ImageList.from_bytes(data).title
        return title, None
    try:
        if titles:  # parsing the whole list costs more than the rest: status only
            message = read_signed(data)
            cert = message.signer
            try:
                title = ImageList.from_bytes(message.payload).title
            except ImageListError:
                title = None
        else:  # the alarms after every -U and cache run: the signer is all they need
            cert = stored_signer(data)
    except ImageListError as exc:
        logger.warning("a stored list cannot be read again: %s", exc)
        return None, None
    known = seen.get(cert) if seen is not None else None
    if known is not None:  # one endorser signs many lists: describe its certificate once
        return title, known
    path: tuple[CaStatus, ...] = ()
    problem = None
    if store is not None:
        path, problem = _path(cert, store)
    signer = SignerStatus(
        subject_oneline(cert), issuer_oneline(cert), cert.not_valid_after_utc, path, problem
    )
    if seen is not None:
        seen[cert] = signer
    return title, signer


def gather(
    engine: Engine,
    *,
    now: datetime,
    store: TrustStore | None = None,
    cache: CacheFacts | None = None,
    trust_problem: str | None = None,
    titles: bool = True,
) -> SiteStatus:
    """Read the site's status (nothing is written); ``titles``: also the lists' titles."""
    with reader(engine) as session:
        rows = session.execute(
            select(Subscription, SubscriptionStatus, ImageListInstance)
            .outerjoin(SubscriptionStatus, SubscriptionStatus.subscription_id == Subscription.id)
            .outerjoin(ImageListInstance, ImageListInstance.id == Subscription.imagelist_latest)
            .order_by(Subscription.id)
        ).all()
        images: dict[int, list[ImageStatus]] = {}
        image_rows = session.execute(
            select(
                ImageDefinition.subscription_id,
                ImageDefinition.identifier,
                ImageDefinition.cache,
                ImageInstance.title,
                ImageInstance.version,
                ImageInstance.size,
                available().label("available"),
            )
            .join(Subscription, Subscription.id == ImageDefinition.subscription_id)
            .outerjoin(ImageInstance, ImageInstance.id == ImageDefinition.latest)
            .outerjoin(ImageListInstance, ImageListInstance.id == ImageInstance.list_instance_id)
            .order_by(ImageDefinition.id)
        )
        cached = cache.cached if cache is not None else {}
        given_up = cache.given_up if cache is not None else frozenset()
        for row in image_rows:
            images.setdefault(row.subscription_id, []).append(
                ImageStatus(
                    identifier=row.identifier,
                    title=row.title or "",
                    version=row.version or "",
                    size=int(row.size or 0),
                    subscribed=bool(row.cache),
                    available=bool(row.available),
                    cached=row.identifier in cached,
                    given_up=row.identifier in given_up,
                )
            )
        items = []
        seen: dict[x509.Certificate, SignerStatus] = {}
        for subscription, status, latest in rows:
            title, signer = (
                (None, None) if latest is None else _message(latest.data, store, titles, seen)
            )
            items.append(
                SubscriptionStatusItem(
                    identifier=subscription.identifier,
                    uri=redact_url(subscription.uri),
                    authorised=bool(subscription.authorised),
                    title=title,
                    version=latest.version if latest is not None else None,
                    list_expires=latest.expires if latest is not None else None,
                    list_expired=latest is not None and latest.expired is not None,
                    last_attempt=status.last_attempt if status is not None else None,
                    last_success=(
                        status.last_success
                        if status is not None and status.last_success is not None
                        else (latest.imported if latest is not None else None)
                    ),
                    last_error=status.last_error if status is not None else None,
                    last_exit_code=status.last_exit_code if status is not None else None,
                    signer=signer,
                    images=tuple(images.get(subscription.id, ())),
                )
            )
    return SiteStatus(now, tuple(items), cache, trust_problem)


def list_hashes(engine: Engine) -> dict[str, str]:
    """Image id → hash of the list its latest description came from (for given-up tries)."""
    with reader(engine) as session:
        rows = session.execute(
            select(ImageDefinition.identifier, ImageListInstance.data_hash)
            .join(ImageInstance, ImageInstance.id == ImageDefinition.latest)
            .join(ImageListInstance, ImageListInstance.id == ImageInstance.list_instance_id)
        )
        return {identifier: data_hash for identifier, data_hash in rows}
