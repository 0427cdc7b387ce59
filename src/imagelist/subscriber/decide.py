"""The pure *decide* step of ``vmcatcher_subscribe -U``: verified list + stored state → plan.

No I/O, no clock, no database: :func:`decide` takes what the fetch and verify steps produced
(:class:`Received`, :class:`NotModified` or :class:`Failed`), a snapshot of the subscription
(:class:`SubscriptionState`) and the time, and returns a :class:`Plan` that says what to write
(one transaction) and which events to send. All acceptance rules live here, in the order of
reference §1.5/§2.4:

8. the list ``dc:identifier`` must be the subscription's (31); every image id must be a safe
   identifier (31);
9. ``dc:date:created`` not in the future (33); 10. ``dc:date:expires`` not passed (34);
11. the signer must be an endorser linked to the subscription (13);
12. the same bytes as the accepted list: nothing to do (0);
13. a lower version is a rollback (17); the same version with other content is refused (16)
    unless the old warning is asked for;
7.  (now a refusal, checked last) a changed ``hv:uri`` is not followed unless asked (18).

Whatever the outcome, a stored list whose ``dc:date:expires`` has passed is marked expired, so
its images stop being available and the cache retires them (defect D7).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..document import Image, ImageList, format_date, is_safe_identifier
from ..errors import (
    EXIT_INTERNAL_ERROR,
    EndorserNotAuthorisedError,
    FetchError,
    ImageListError,
    ListIdMismatchError,
    ListMovedError,
    ListTooLargeError,
    OpenPGPSignerUnknownError,
    SameVersionChangedError,
    UnsafeIdentifierError,
    VersionLowerError,
)
from ..urls import redact_url, scheme_rank
from ..verify import VerifiedList, check_dates
from ..versions import compare_versions
from .decision import (
    UPDATE_MODE_ACCEPT,
    UPDATE_MODE_SUBSCRIBE,
    Acceptance,
    ChangeKind,
    Failed,
    ImageChange,
    KnownImage,
    NotModified,
    Outcome,
    Plan,
    Policy,
    Received,
    StoredList,
    SubscriptionState,
    normalise_uri,
)

if TYPE_CHECKING:  # a type only (pure data, ADR 21)
    from .oci_sources import SourceList
    from .openpgp_list import OpenPGPList

__all__ = [
    "UPDATE_MODE_ACCEPT",
    "UPDATE_MODE_SUBSCRIBE",
    "Acceptance",
    "ChangeKind",
    "Failed",
    "ImageChange",
    "KnownImage",
    "NotModified",
    "Outcome",
    "Plan",
    "Policy",
    "Received",
    "StoredList",
    "SubscriptionState",
    "decide",
    "normalise_uri",
]


def _expired_message(latest: StoredList) -> str:
    return (
        f"the accepted list expired at {format_date(latest.expires)}: "
        "its images are no longer available"
    )


def _reject(state: SubscriptionState, error: ImageListError, expired_now: bool) -> Plan:
    message = str(error)
    if expired_now and state.latest is not None:
        message += f"; {_expired_message(state.latest)}"
    refused = not isinstance(error, FetchError) or isinstance(error, ListTooLargeError)
    if error.exit_code == EXIT_INTERNAL_ERROR:
        refused = False
    outcome = Outcome.REJECTED if refused else Outcome.FAILED
    return Plan(state.identifier, outcome, error.exit_code, message, mark_expired=expired_now)


def _signer_link(
    state: SubscriptionState, verified: VerifiedList | OpenPGPList | SourceList
) -> int:
    if not isinstance(verified, VerifiedList):  # OpenPGP / registry source: came from a link
        return verified.link
    for key in (
        (verified.signer_dn, verified.signer_ca),
        (verified.endorser.dn, verified.endorser.ca),
    ):
        link = state.principals.get(key)
        if link is not None:
            return link
    raise EndorserNotAuthorisedError(
        f"signer {verified.signer_dn!r} (issuer {verified.signer_ca!r}) is not an endorser "
        f"linked to subscription {state.identifier}"
    )


def _check_identifiers(state: SubscriptionState, imagelist: ImageList) -> None:
    if imagelist.identifier != state.identifier:
        raise ListIdMismatchError(
            f"list dc:identifier {imagelist.identifier!r} is not the subscription's "
            f"({state.identifier})"
        )
    for image in imagelist.images:
        if not is_safe_identifier(image.identifier):
            shown = repr(image.identifier[:80])
            raise UnsafeIdentifierError(
                f"image dc:identifier {shown} is not a safe identifier "
                "(letters, digits and . _ : @ + - only); list refused"
            )


def _check_version(
    state: SubscriptionState, latest: StoredList, received: Received, policy: Policy
) -> str | None:
    """Raise for a rollback or a changed same version; return a warning, if any."""
    version = received.verified.imagelist.version
    order = compare_versions(latest.version, version)
    if state.allow_rollback and order <= 0 and received.data_hash != latest.data_hash:
        return f"accepted version {version!r} after a trust reset (was {latest.version!r})"
    if order < 0:
        raise VersionLowerError(
            f"list version {version!r} is lower than the accepted {latest.version!r} "
            "(rollback refused; after a fast-forwarded version use --reset-trust)"
        )
    if order == 0 and received.data_hash != latest.data_hash:
        if not policy.allow_same_version:
            raise SameVersionChangedError(
                f"list version {version!r} is the accepted one but its content differs "
                "(refused; --allow-same-version accepts it)"
            )
        return f"list version {version!r} is unchanged but its content differs (accepted)"
    return None


def _check_uri(state: SubscriptionState, imagelist: ImageList, policy: Policy) -> str | None:
    """Raise if hv:uri moved and may not be followed; return the URI to move to, if any."""
    claimed = normalise_uri(imagelist.uri)
    reference = state.list_uri
    if reference is None or claimed == reference:
        return None
    if not policy.follow_uri:
        raise ListMovedError(
            f"list hv:uri changed from {reference} to {claimed}; the subscription still "
            f"fetches {redact_url(state.uri)} (refused; -U --follow-uri moves it)"
        )
    scheme = urlsplit(claimed).scheme.lower()
    current = scheme_rank(state.uri)
    if scheme not in ("http", "https", "file") or (scheme == "file" and current > 0):
        raise ListMovedError(f"list hv:uri {claimed!r} cannot be followed (scheme {scheme!r})")
    if scheme_rank(claimed) < current:
        raise ListMovedError(
            f"list hv:uri {claimed} would downgrade {redact_url(state.uri)}; not followed"
        )
    return claimed


def _image_changes(
    state: SubscriptionState, imagelist: ImageList
) -> tuple[list[ImageChange], list[Image], int]:
    """Per-image decisions, the images to announce, and the exit code (last non-zero)."""
    latest_images = state.latest.images if state.latest is not None else {}
    images: dict[str, Image] = {}
    for image in imagelist.images:
        images[image.identifier] = image  # a repeated id: the last one wins, as in 0.6
    changes: list[ImageChange] = []
    announce: list[Image] = []
    code = 0
    for identifier, image in images.items():
        known = state.known_images.get(identifier)
        if known is None:
            announce.append(image)
            if state.update_mode & UPDATE_MODE_ACCEPT:
                cache = 1 if state.update_mode & UPDATE_MODE_SUBSCRIBE else 0
                changes.append(ImageChange(identifier, ChangeKind.NEW, image, cache=cache))
            else:
                changes.append(ImageChange(identifier, ChangeKind.REFUSED, image))
                code = 32
        elif known.subscription_id != state.id:
            changes.append(
                ImageChange(identifier, ChangeKind.CONFLICT, image, owner=known.subscription)
            )
            code = 15
        else:
            previous = latest_images.get(identifier)
            if previous is None:
                kind = ChangeKind.ADDED
            elif previous != image.sha512:
                kind = ChangeKind.CHANGED
            else:
                kind = ChangeKind.UNCHANGED
            changes.append(ImageChange(identifier, kind, image, definition_id=known.definition_id))
    for identifier in latest_images:
        if identifier not in images:
            changes.append(ImageChange(identifier, ChangeKind.REVOKED))
    return changes, announce, code


def _summary(changes: list[ImageChange]) -> str:
    counts: dict[ChangeKind, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    shown = [
        f"{counts[kind]} {kind}"
        for kind in (
            ChangeKind.NEW,
            ChangeKind.ADDED,
            ChangeKind.CHANGED,
            ChangeKind.REVOKED,
            ChangeKind.REFUSED,
            ChangeKind.CONFLICT,
        )
        if counts.get(kind)
    ]
    return ", ".join(shown) if shown else "no image changes"


def decide(
    state: SubscriptionState,
    outcome: Received | NotModified | Failed,
    *,
    now: datetime,
    policy: Policy | None = None,
) -> Plan:
    """Decide what one update of one subscription does. Pure: no I/O, raises nothing."""
    policy = policy or Policy()
    latest = state.latest
    expired_now = latest is not None and latest.expired is None and now > latest.expires
    if isinstance(outcome, Failed):
        return _reject(state, outcome.error, expired_now)
    if isinstance(outcome, NotModified):
        if latest is not None and (expired_now or latest.expired is not None):
            return Plan(
                state.identifier,
                Outcome.EXPIRED,
                34,
                f"not modified; {_expired_message(latest)}",
                mark_expired=expired_now,
            )
        version = f" (version {latest.version})" if latest is not None else ""
        return Plan(state.identifier, Outcome.UNCHANGED, 0, f"not modified{version}")

    imagelist = outcome.verified.imagelist
    warnings = [
        f"image {d.identifier or '<no id>'} dropped: {d.reason}" for d in imagelist.dropped_images
    ]
    try:
        _check_identifiers(state, imagelist)
        check_dates(imagelist, now=now)
        link = _signer_link(state, outcome.verified)
        if outcome.openpgp_link is not None and outcome.openpgp_link != link:
            raise OpenPGPSignerUnknownError(
                "the OpenPGP signature was made by another endorser's certificate than the "
                f"S/MIME signer's ({outcome.verified.imagelist.endorser.dn!r})"
            )
        if latest is not None and latest.data_hash == outcome.data_hash and not state.reimport:
            validators = (outcome.etag, outcome.last_modified)
            changed = validators != (state.etag, state.last_modified)
            return Plan(
                state.identifier,
                Outcome.UNCHANGED,
                0,
                f"unchanged (version {latest.version})",
                validators=validators if changed else None,
            )
        if latest is not None:
            warning = _check_version(state, latest, outcome, policy)
            if warning:
                warnings.append(warning)
        new_uri = _check_uri(state, imagelist, policy)
    except ImageListError as error:
        return _reject(state, error, expired_now)

    changes, announce, code = _image_changes(state, imagelist)
    before = f"{latest.version} -> " if latest is not None else ""
    message = f"version {before}{imagelist.version}: {_summary(changes)}"
    if new_uri is not None:
        message += f"; now fetched from {new_uri}"
        warnings.append(f"subscription moved to {new_uri} (--follow-uri)")
    acceptance = Acceptance(
        imagelist=imagelist,
        data=outcome.data,
        data_hash=outcome.data_hash,
        sub_auth=link,
        changes=tuple(changes),
        list_uri=normalise_uri(imagelist.uri),
        new_uri=new_uri,
        etag=outcome.etag,
        last_modified=outcome.last_modified,
    )
    return Plan(
        state.identifier,
        Outcome.UPDATED,
        code,
        message,
        accept=acceptance,
        new_images=tuple(announce),
        warnings=tuple(warnings),
    )
