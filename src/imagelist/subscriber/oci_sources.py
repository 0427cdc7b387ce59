"""Registry sources as subscriptions of their own (``vmcatcher_subscribe -U``, ADR 0022).

Every ``[oci.sources.NAME]`` of the site file with trust ``cosign-key`` or ``none`` is a
subscription: :func:`ensure_source_subscriptions` creates its row (identifier
:func:`source_identifier`, URI ``oci-source:NAME``, update mode from the source's
``new_images``: refuse by default, as ``-s``) with an
endorser ``oci-source:NAME`` linked to it. Each ``-U`` then :func:`fetch_source` discovers and
verifies the source's images and wraps them in an (unsigned) :class:`SourceList`, which goes
through the same decide and persist steps as a HEPiX list: new images, changed and removed
ones (expired at the site), events, the cache and the backends work unchanged. The stored list
is its JSON (it starts with ``{``, so readers treat it as they treat an ``openpgp`` list).

A source fails as a whole: if any artifact fails (unsigned, wrong key, too old, unreachable)
the source's result is the worst error and nothing is written for it. A SHA-512 is computed
once per manifest digest: an image of the accepted list keeps its SHA-512 while its
digest-pinned URI is unchanged. While the images (ids and SHA-512s) are those of the accepted
list and that list has more than half its lifetime (``max_age_days``, default 7) left, the run
is "not modified" and nothing is written; otherwise a new list instance is stored, its version
the UTC time (``YYYYMMDD.HHMMSSffffff``). ``imagelist`` trust has nothing here: it is a signed list,
subscribed to with ``-s``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from ..db.engine import reader, transaction
from ..db.subscriber.models import (
    Endorser,
    EndorserPrincipal,
    ImageListInstance,
    Subscription,
    SubscriptionAuth,
)
from ..document import Endorser as ListEndorser
from ..document import Image, ImageList
from ..errors import ConfigurationError, EndorserNotAuthorisedError, ImageListError
from ..oci.source import NEW_IMAGE_MODES, RegistrySource, discover
from .decision import Failed, NotModified, Received, SubscriptionState

__all__ = [
    "SOURCE_URI_PREFIX",
    "SourceList",
    "ensure_source_subscriptions",
    "fetch_source",
    "source_identifier",
    "subscribed_sources",
]

logger = logging.getLogger(__name__)

SOURCE_URI_PREFIX = "oci-source:"
DEFAULT_LIFETIME_DAYS = 7.0


def source_identifier(name: str) -> str:
    """The stable subscription (and list) identifier of the source ``name``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"imagelist-oci-source:{name}"))


#: the hv:ca of a source's endorser; fixed, so that changing a source's trust mode or registry
#: keeps its subscription (each image's sl:comments names the trust it passed)
SOURCE_CA = "imagelist OCI registry source"


def _principal(source: RegistrySource) -> tuple[str, str]:
    return f"{SOURCE_URI_PREFIX}{source.name}", SOURCE_CA


@dataclass(frozen=True)
class SourceList:
    """What deciding needs of a registry source's images: a list and its endorser link."""

    imagelist: ImageList
    #: the subscriptionAuth id of the source's endorser
    link: int

    @property
    def endorser(self) -> ListEndorser:
        return self.imagelist.endorser


def subscribed_sources(sources: Sequence[RegistrySource]) -> list[RegistrySource]:
    """The sources ``-U`` updates itself (trust ``cosign-key`` and ``none``)."""
    return [source for source in sources if source.trust != "imagelist"]


def ensure_source_subscriptions(engine: Engine, sources: Sequence[RegistrySource]) -> list[str]:
    """Create the subscription rows of the sources that have none yet; their identifiers."""
    created: list[str] = []
    with transaction(engine) as session:
        for source in subscribed_sources(sources):
            uri = f"{SOURCE_URI_PREFIX}{source.name}"
            if session.scalars(select(Subscription.id).where(Subscription.uri == uri)).first():
                continue
            dn, ca = _principal(source)
            endorser = session.scalars(
                select(Endorser).join(EndorserPrincipal).where(EndorserPrincipal.hv_dn == dn)
            ).first()
            if endorser is None:
                endorser = Endorser(identifier=dn)
                session.add(endorser)
                session.flush()
                session.add(EndorserPrincipal(hv_dn=dn, hv_ca=ca, endorser_id=endorser.id))
            subscription = Subscription(
                identifier=source_identifier(source.name),
                description=f"OCI registry source {source.name} ({source.registry})",
                uri=uri,
                authorised=True,
                trust_anchor=0,
                update_mode=NEW_IMAGE_MODES[source.new_images],
                allow_rollback=False,
                reimport=False,
                signature_policy="smime",
            )
            session.add(subscription)
            session.flush()
            session.add(
                SubscriptionAuth(
                    subscription_id=subscription.id, endorser_id=endorser.id, authorised=True
                )
            )
            created.append(subscription.identifier)
            logger.warning(
                "registry source %s: subscription %s added (trust %s)",
                source.name,
                subscription.identifier,
                source.trust,
            )
    return created


def _accepted_images(engine: Engine, state: SubscriptionState) -> dict[str, Image]:
    """The images of the accepted list, by id (it is this module's JSON)."""
    if state.latest is None:
        return {}
    with reader(engine) as session:
        data = session.scalar(
            select(ImageListInstance.data).where(ImageListInstance.id == state.latest.id)
        )
    try:
        imagelist = ImageList.from_bytes(bytes(data or b""))
    except ImageListError:
        return {}
    return {image.identifier: image for image in imagelist.images}


def fetch_source(
    engine: Engine,
    sources: Mapping[str, RegistrySource],
    uri: str,
    state: SubscriptionState,
    *,
    now: datetime,
) -> Received | NotModified | Failed:
    """Discover and verify the source of subscription ``uri``; a failure leaves it as it was."""
    name = uri.removeprefix(SOURCE_URI_PREFIX)
    source = sources.get(name)
    if source is None or source.trust == "imagelist":
        return Failed(
            ConfigurationError(
                f"registry source {name!r} is no longer in the site file (trust cosign-key or "
                f"none); delete its subscription with vmcatcher_subscribe -D -u {state.identifier}"
            )
        )
    dn, ca = _principal(source)
    link = state.principals.get((dn, ca))
    if link is None:
        return Failed(
            EndorserNotAuthorisedError(
                f"the endorser {dn!r} ({ca}) is not an authorised endorser of subscription "
                f"{state.identifier}"
            )
        )
    accepted = _accepted_images(engine, state)
    remembered = {image.uri: image.sha512 for image in accepted.values() if image.sha512}
    images, failures = discover(source, known=remembered)
    if failures:
        worst = max(failures, key=lambda error: error.exit_code)
        if len(failures) > 1:
            logger.error("source %s: %d artifacts failed; nothing updated", name, len(failures))
        return Failed(worst)
    lifetime = timedelta(days=source.max_age_days or DEFAULT_LIFETIME_DAYS)
    latest = state.latest
    if (
        latest is not None
        and latest.expired is None
        and not state.reimport
        and latest.expires - now > lifetime / 2
        and accepted == {image.identifier: image for image in images}
    ):
        return NotModified()  # the same images, and the accepted list is still young
    created = now.replace(microsecond=0)
    imagelist = ImageList(
        identifier=state.identifier,
        title=f"OCI registry source {name}",
        description=f"Images of the registry source {name} ({source.registry}), trust "
        f"{source.trust}, verified by vmcatcher_subscribe -U",
        source=uri,
        created=created,
        expires=created + lifetime,
        version=now.strftime("%Y%m%d.%H%M%S%f"),
        uri=uri,
        endorsers=(ListEndorser(dn=dn, ca=ca, email="", creator=dn),),
        images=tuple(sorted(images, key=lambda image: image.identifier)),
    )
    data = imagelist.to_json_bytes()
    return Received(
        verified=SourceList(imagelist, link),
        data=data,
        data_hash=hashlib.sha512(data).hexdigest(),
        url=uri,
    )
