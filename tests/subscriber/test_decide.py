"""The pure decide step: every acceptance rule, on real verified lists, without I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from imagelist.document import Image, ImageList
from imagelist.errors import FetchError
from imagelist.subscriber.decide import (
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
    decide,
    normalise_uri,
)
from imagelist.trust import TrustStore
from imagelist.verify import ListVerifier
from tests.pki import TestPki
from tests.subscriber.support import LIST_ID, make_image, make_list, now, sign

URI = "https://lists.example/image.list"
NOW = now()


@pytest.fixture(scope="module")
def verifier(test_pki: TestPki) -> ListVerifier:
    return ListVerifier(TrustStore.load(test_pki.trust_dir))


Receive = Callable[..., Received]


@pytest.fixture(scope="module")
def receive(verifier: ListVerifier, test_pki: TestPki) -> Receive:
    def build(imagelist: ImageList | None = None, **fields: object) -> Received:
        if imagelist is None:
            fields.setdefault("uri", URI)
            fields.setdefault("images", (make_image("img-a"), make_image("img-b")))
            imagelist = make_list(test_pki.good, **fields)  # type: ignore[arg-type]
        data = sign(imagelist, test_pki.good)
        return Received(
            verified=verifier.verify(data, at=NOW),
            data=data,
            data_hash=hashlib.sha512(data).hexdigest(),
            url=URI,
            etag='"e1"',
            last_modified=None,
        )

    return build


@pytest.fixture(scope="module")
def state(test_pki: TestPki) -> SubscriptionState:
    good = test_pki.good
    return SubscriptionState(
        id=1,
        identifier=LIST_ID,
        uri=URI,
        list_uri=URI,
        update_mode=0,
        principals={(good.subject_oneline, good.issuer_oneline): 7},
    )


def _stored(received: Received, **fields: object) -> StoredList:
    values: dict[str, object] = {
        "id": 3,
        "data_hash": received.data_hash,
        "version": received.verified.imagelist.version,
        "expires": NOW + timedelta(days=10),
        "images": {i.identifier: i.sha512 for i in received.verified.imagelist.images},
    }
    values.update(fields)
    return StoredList(**values)  # type: ignore[arg-type]


def _known(state: SubscriptionState, *ids: str, owner: int | None = None) -> dict[str, KnownImage]:
    return {
        identifier: KnownImage(
            identifier, 10 + n, owner or state.id, "other" if owner else state.identifier
        )
        for n, identifier in enumerate(ids)
    }


def test_first_import_accepts_every_known_image(state: SubscriptionState, receive: Receive) -> None:
    received = receive()
    current = replace(state, known_images=_known(state, "img-a", "img-b"))
    plan = decide(current, received, now=NOW)
    assert plan.outcome is Outcome.UPDATED
    assert plan.exit_code == 0
    assert plan.message == "version 1.0: 2 added"
    assert plan.accept is not None
    assert plan.accept.sub_auth == 7
    assert [c.kind for c in plan.accept.changes] == [ChangeKind.ADDED, ChangeKind.ADDED]
    assert plan.accept.list_uri == URI
    assert plan.accept.etag == '"e1"'
    assert plan.writes
    assert not plan.new_images


@pytest.mark.parametrize(("mode", "cache"), [(1, 0), (3, 1)])
def test_new_images_accepted_by_mode(
    state: SubscriptionState, receive: Receive, mode: int, cache: int
) -> None:
    plan = decide(replace(state, update_mode=mode), receive(), now=NOW)
    assert plan.accept is not None
    assert {(c.kind, c.cache) for c in plan.accept.changes} == {(ChangeKind.NEW, cache)}
    assert [image.identifier for image in plan.new_images] == ["img-a", "img-b"]
    assert plan.exit_code == 0
    assert "(accepted, " in plan.accept.changes[0].describe()


def test_new_images_refused_by_default_mode(state: SubscriptionState, receive: Receive) -> None:
    plan = decide(replace(state, known_images=_known(state, "img-a")), receive(), now=NOW)
    assert plan.exit_code == 32
    assert plan.outcome is Outcome.UPDATED, "the rest of the list is still imported"
    assert plan.accept is not None
    kinds = {c.identifier: c.kind for c in plan.accept.changes}
    assert kinds == {"img-a": ChangeKind.ADDED, "img-b": ChangeKind.REFUSED}
    assert [i.identifier for i in plan.new_images] == ["img-b"], "refused ids are announced too"
    assert [c.identifier for c in plan.accept.accepted] == ["img-a"]
    assert "refused" in plan.accept.changes[1].describe()


def test_image_of_another_subscription_is_a_conflict(
    state: SubscriptionState, receive: Receive
) -> None:
    known = {**_known(state, "img-a"), **_known(state, "img-b", owner=99)}
    plan = decide(replace(state, known_images=known), receive(), now=NOW)
    assert plan.exit_code == 15
    assert plan.accept is not None
    conflict = plan.accept.changes[1]
    assert conflict.kind is ChangeKind.CONFLICT
    assert conflict.describe() == "image img-b belongs to subscription other: not attached"
    assert [c.identifier for c in plan.accept.accepted] == ["img-a"]


def test_changes_against_the_accepted_list(state: SubscriptionState, receive: Receive) -> None:
    old = receive(
        version="1.0", images=(make_image("img-a"), make_image("img-b"), make_image("img-c"))
    )
    new = receive(
        version="1.1",
        images=(make_image("img-a"), make_image("img-b", content=b"v2"), make_image("img-d")),
    )
    current = replace(
        state,
        latest=_stored(
            old,
            images={"img-a": make_image("img-a").sha512, "img-b": "0" * 128, "img-c": "1" * 128},
        ),
        known_images=_known(state, "img-a", "img-b", "img-d"),
    )
    plan = decide(current, new, now=NOW)
    assert plan.accept is not None
    kinds = {c.identifier: c.kind for c in plan.accept.changes}
    assert kinds == {
        "img-a": ChangeKind.UNCHANGED,
        "img-b": ChangeKind.CHANGED,
        "img-d": ChangeKind.ADDED,
        "img-c": ChangeKind.REVOKED,
    }
    assert plan.message == "version 1.0 -> 1.1: 1 added, 1 changed, 1 revoked"
    assert ImageChange("x", ChangeKind.REVOKED).describe() == "revoked image x"


def test_repeated_image_id_last_one_wins(state: SubscriptionState, receive: Receive) -> None:
    images = (make_image("img-a"), make_image("img-a", content=b"second"))
    plan = decide(
        replace(state, known_images=_known(state, "img-a")), receive(images=images), now=NOW
    )
    assert plan.accept is not None
    (change,) = plan.accept.changes
    assert change.image is not None
    assert change.image.sha512 == hashlib.sha512(b"second").hexdigest()


def test_dropped_images_are_reported(
    state: SubscriptionState, test_pki: TestPki, verifier: ListVerifier
) -> None:
    imagelist = make_list(test_pki.good, uri=URI, images=(make_image("img-a"),))
    body = imagelist.to_dict()
    del body["hv:imagelist"]["hv:images"][0]["hv:image"]["sl:comments"]
    data = sign(json.dumps(body).encode(), test_pki.good)
    received = Received(verifier.verify(data, at=NOW), data, "h", URI)
    plan = decide(state, received, now=NOW)
    assert plan.warnings == ("image img-a dropped: missing required key(s): sl:comments",)
    assert plan.message == "version 1.0: no image changes"


def test_same_bytes_change_nothing(state: SubscriptionState, receive: Receive) -> None:
    received = receive()
    current = replace(state, latest=_stored(received), etag='"e1"')
    plan = decide(current, received, now=NOW)
    assert (plan.outcome, plan.exit_code, plan.message) == (
        Outcome.UNCHANGED,
        0,
        "unchanged (version 1.0)",
    )
    assert not plan.writes
    newer_validators = decide(replace(current, etag='"old"'), received, now=NOW)
    assert newer_validators.validators == ('"e1"', None)
    assert newer_validators.writes


def test_same_bytes_with_reimport_apply_again(state: SubscriptionState, receive: Receive) -> None:
    received = receive()
    current = replace(
        state, latest=_stored(received), reimport=True, known_images=_known(state, "img-a", "img-b")
    )
    plan = decide(current, received, now=NOW)
    assert plan.outcome is Outcome.UPDATED
    assert plan.exit_code == 0


def test_lower_version_is_a_rollback(state: SubscriptionState, receive: Receive) -> None:
    accepted = receive(version="2.0")
    plan = decide(replace(state, latest=_stored(accepted)), receive(version="1.9"), now=NOW)
    assert (plan.outcome, plan.exit_code) == (Outcome.REJECTED, 17)
    assert not plan.writes


def test_trust_reset_accepts_a_lower_version_once(
    state: SubscriptionState, receive: Receive
) -> None:
    accepted = receive(version="9.0")
    current = replace(
        state,
        latest=_stored(accepted),
        allow_rollback=True,
        known_images=_known(state, "img-a", "img-b"),
    )
    plan = decide(current, receive(version="1.1"), now=NOW)
    assert plan.exit_code == 0
    assert plan.warnings == ("accepted version '1.1' after a trust reset (was '9.0')",)


def test_same_version_other_content(state: SubscriptionState, receive: Receive) -> None:
    accepted = receive(version="1.0")
    changed = receive(version="1.0", images=(make_image("img-a", content=b"other"),))
    current = replace(state, latest=_stored(accepted), known_images=_known(state, "img-a"))
    refused = decide(current, changed, now=NOW)
    assert refused.exit_code == 16
    allowed = decide(current, changed, now=NOW, policy=Policy(allow_same_version=True))
    assert allowed.exit_code == 0
    assert "content differs (accepted)" in allowed.warnings[0]


def test_list_id_must_be_the_subscriptions(state: SubscriptionState, receive: Receive) -> None:
    plan = decide(state, receive(identifier="another-list"), now=NOW)
    assert plan.exit_code == 31


@pytest.mark.parametrize("identifier", ["../x", "a/b", "$(id)", "a b", "", "x" * 200])
def test_unsafe_image_ids_refuse_the_list(
    state: SubscriptionState, receive: Receive, identifier: str
) -> None:
    plan = decide(state, receive(images=(make_image(identifier),)), now=NOW)
    assert plan.exit_code == 31
    assert "not a safe identifier" in plan.message


def test_dates(state: SubscriptionState, receive: Receive) -> None:
    future = decide(state, receive(created=NOW + timedelta(hours=1)), now=NOW)
    assert future.exit_code == 33
    past = NOW - timedelta(days=40)
    expired = decide(state, receive(created=past, expires=past + timedelta(days=1)), now=NOW)
    assert expired.exit_code == 34


def test_signer_must_be_linked(state: SubscriptionState, receive: Receive) -> None:
    plan = decide(replace(state, principals={}), receive(), now=NOW)
    assert plan.exit_code == 13


def test_moved_hv_uri(state: SubscriptionState, receive: Receive) -> None:
    moved = receive(uri="https://mirror.example/image.list")
    refused = decide(state, moved, now=NOW)
    assert refused.exit_code == 18
    assert "-U --follow-uri" in refused.message
    followed = decide(
        replace(state, known_images=_known(state, "img-a", "img-b")),
        moved,
        now=NOW,
        policy=Policy(follow_uri=True),
    )
    assert followed.exit_code == 0
    assert followed.accept is not None
    assert followed.accept.new_uri == "https://mirror.example/image.list"
    assert "now fetched from" in followed.message
    unknown_home = decide(
        replace(state, list_uri=None, known_images=_known(state, "img-a", "img-b")), moved, now=NOW
    )
    assert unknown_home.exit_code == 0
    assert unknown_home.accept is not None
    assert unknown_home.accept.new_uri is None


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://mirror.example/image.list", "downgrade"),
        ("file:///etc/image.list", "cannot be followed"),
        ("ftp://mirror.example/image.list", "cannot be followed"),
    ],
)
def test_follow_never_weakens_the_transport(
    state: SubscriptionState, receive: Receive, uri: str, reason: str
) -> None:
    plan = decide(state, receive(uri=uri), now=NOW, policy=Policy(follow_uri=True))
    assert plan.exit_code == 18
    assert reason in plan.message


def test_credentials_in_hv_uri_are_not_part_of_the_comparison(
    state: SubscriptionState, receive: Receive
) -> None:
    with_credentials = receive(uri="https://user:secret@lists.example/image.list")
    plan = decide(
        replace(state, known_images=_known(state, "img-a", "img-b")), with_credentials, now=NOW
    )
    assert plan.exit_code == 0
    assert normalise_uri(" https://u:p@h/x ") == "https://h/x"


def test_failure_keeps_the_state_unless_the_accepted_list_expired(
    state: SubscriptionState, receive: Receive
) -> None:
    error = FetchError("cannot retrieve x: HTTP 503")
    plain = decide(state, Failed(error), now=NOW)
    # An unreachable server did not refuse a list: the outcome says "failed", not "rejected".
    assert (plain.outcome, plain.exit_code, plain.writes) == (Outcome.FAILED, 10, False)
    latest = _stored(receive(), expires=NOW - timedelta(seconds=1))
    expired = decide(replace(state, latest=latest), Failed(error), now=NOW)
    assert expired.mark_expired
    assert expired.exit_code == 10
    assert "its images are no longer available" in expired.message


def test_not_modified(state: SubscriptionState, receive: Receive) -> None:
    assert decide(state, NotModified(), now=NOW).message == "not modified"
    latest = _stored(receive())
    plan = decide(replace(state, latest=latest), NotModified(), now=NOW)
    assert (plan.outcome, plan.exit_code, plan.writes) == (Outcome.UNCHANGED, 0, False)
    assert plan.message == "not modified (version 1.0)"


def test_not_modified_but_expired_is_enforced(state: SubscriptionState, receive: Receive) -> None:
    latest = _stored(receive(), expires=NOW - timedelta(seconds=1))
    plan = decide(replace(state, latest=latest), NotModified(), now=NOW)
    assert (plan.outcome, plan.exit_code, plan.mark_expired) == (Outcome.EXPIRED, 34, True)
    marked = replace(latest, expired=NOW)
    again = decide(replace(state, latest=marked), NotModified(), now=NOW)
    assert (again.outcome, again.exit_code, again.mark_expired) == (Outcome.EXPIRED, 34, False)


def test_a_new_list_replaces_an_expired_one(state: SubscriptionState, receive: Receive) -> None:
    latest = _stored(receive(version="1.0"), expires=NOW - timedelta(seconds=1), data_hash="x")
    plan = decide(
        replace(state, latest=latest, known_images=_known(state, "img-a", "img-b")),
        receive(version="1.1"),
        now=NOW,
    )
    assert plan.outcome is Outcome.UPDATED
    assert not plan.mark_expired


def test_plan_defaults() -> None:
    plan = Plan("s", Outcome.UNCHANGED, 0, "m")
    assert not plan.writes
    assert isinstance(make_image("x"), Image)
