"""Attack: a signed list carries numbers no database column can hold (issue 9 §4).

``"hv:size": 99999999999999999999999`` used to crash ``-U`` with an internal error (exit 70)
before the later subscriptions were updated. Now every number is bounded when the document is
read: the list is invalid (exit 38), that subscription is rolled back and reported in one line,
and the next subscription of the same run is updated. A bug in one subscription's update is
contained the same way (its own error boundary, exit 70 for that one only).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from imagelist.db.subscriber import open_database
from imagelist.db.subscriber.models import (
    ImageInstance,
    ImageListInstance,
    Subscription,
    SubscriptionAuth,
)
from imagelist.document import MAX_IMAGE_SIZE
from imagelist.subscriber import update_store as update_module
from tests.subscriber.support import Site, World, make_image, make_list, sign

OTHER_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
OTHER_PATH = "/store/other.list"


def _with_size(world: World, size: Any) -> bytes:
    """The world's list, version 2.0, whose first image claims ``size`` (as raw JSON)."""
    document = world.make(version="2.0").to_dict()
    document["hv:imagelist"]["hv:images"][0]["hv:image"]["hv:size"] = size
    return sign(json.dumps(document, sort_keys=True, indent=4).encode(), world.signer)


def _add_second_subscription(world: World) -> str:
    """A second list, accepted at 1.0, then 2.0 served: -U must accept 2.0."""
    url = world.server.url(OTHER_PATH)
    images = (make_image("other-a"),)
    first = make_list(world.signer, identifier=OTHER_ID, version="1.0", images=images, uri=url)
    world.server.put(OTHER_PATH, sign(first, world.signer), etag="auto")
    assert world.site.subscribe("-s", url).code == 0
    assert world.update("-u", OTHER_ID).code == 0
    second = make_list(world.signer, identifier=OTHER_ID, version="2.0", images=images, uri=url)
    world.server.put(OTHER_PATH, sign(second, world.signer), etag="auto")
    return url


def _rows_of(site: Site, identifier: str) -> list[tuple[Any, ...]]:
    """Everything the database holds for one subscription: its lists and their images."""
    engine = open_database(site.database)
    try:
        with engine.connect() as connection:
            query = (
                sa.select(
                    ImageListInstance.id,
                    ImageListInstance.version,
                    ImageListInstance.data_hash,
                    ImageInstance.id,
                    ImageInstance.size,
                    ImageInstance.sha512,
                )
                .join(SubscriptionAuth, SubscriptionAuth.id == ImageListInstance.sub_auth)
                .join(Subscription, Subscription.id == SubscriptionAuth.subscription_id)
                .outerjoin(ImageInstance, ImageInstance.list_instance_id == ImageListInstance.id)
                .where(Subscription.identifier == identifier)
                .order_by(ImageListInstance.id, ImageInstance.id)
            )
            return [tuple(row) for row in connection.execute(query)]
    finally:
        engine.dispose()


def _versions(site: Site) -> dict[str, str]:
    engine = open_database(site.database)
    try:
        with engine.connect() as connection:
            query = sa.select(Subscription.identifier, ImageListInstance.version).join(
                ImageListInstance, ImageListInstance.id == Subscription.imagelist_latest
            )
            return {str(name): str(version) for name, version in connection.execute(query)}
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "size",
    [
        99999999999999999999999,  # the report: beyond 64 bits
        2**63,  # one past BIGINT
        "99999999999999999999999",  # the same as decimal text
        MAX_IMAGE_SIZE + 1,  # fits a BIGINT, but no image is that large
    ],
    ids=["huge-int", "2^63", "huge-text", "above-cap"],
)
def test_oversize_size_rejects_that_list_and_the_next_subscription_is_updated(
    world: World, size: Any
) -> None:
    from tests.subscriber.support import LIST_ID

    _add_second_subscription(world)
    before = _rows_of(world.site, LIST_ID)
    world.publish(_with_size(world, size))

    result = world.update()

    assert result.code == 38, (result.out, result.err)
    assert "Traceback" not in result.err
    assert "internal error" not in result.out + result.err
    lines = {line.split("\t")[0]: line.split("\t") for line in result.out.splitlines()}
    assert lines[LIST_ID][1] == "38"
    # The key is named where the number fits 64 bits; beyond, the JSON reader names the number.
    assert "hv:size" in lines[LIST_ID][3] or "out of range" in lines[LIST_ID][3]
    assert lines[OTHER_ID][1] == "0"
    assert _rows_of(world.site, LIST_ID) == before, "the bad list's subscription is unchanged"
    assert _versions(world.site) == {LIST_ID: "1.0", OTHER_ID: "2.0"}


def test_size_at_the_cap_is_accepted(world: World) -> None:
    from tests.subscriber.support import LIST_ID

    world.publish(_with_size(world, MAX_IMAGE_SIZE))
    result = world.update()
    assert result.code == 0, (result.out, result.err)
    assert _versions(world.site)[LIST_ID] == "2.0"
    sizes = {row[4] for row in _rows_of(world.site, LIST_ID)}
    assert MAX_IMAGE_SIZE in sizes


def test_huge_number_in_an_unknown_key_is_an_invalid_list(world: World) -> None:
    """Numbers are bounded everywhere in the document, not only in the keys we store."""
    from tests.subscriber.support import LIST_ID

    document = world.make(version="2.0").to_dict()
    document["hv:imagelist"]["ad:weight"] = -(10**30)
    world.publish(sign(json.dumps(document).encode(), world.signer))
    result = world.assert_refused(38)
    assert LIST_ID in result.out
    assert "out of range" in result.out


def test_unexpected_error_costs_one_subscription_only(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while writing one subscription: that one is rolled back and reported (70), the
    next one is updated, and the run's exit code is the worst one (70)."""
    from tests.subscriber.support import LIST_ID

    _add_second_subscription(world)
    world.publish(world.make(version="2.0"))
    before = _rows_of(world.site, LIST_ID)
    real_insert = update_module.insert
    calls = {"images": 0}

    def buggy_insert(table: Any) -> Any:
        # The first subscription's list row is already inserted when its images' insert fails.
        if table is update_module.ImageInstance:
            calls["images"] += 1
            if calls["images"] == 1:
                raise ZeroDivisionError("injected bug")
        return real_insert(table)

    monkeypatch.setattr(update_module, "insert", buggy_insert)
    result = world.update()

    assert result.code == 70, (result.out, result.err)
    lines = {line.split("\t")[0]: line.split("\t") for line in result.out.splitlines()}
    assert lines[LIST_ID][1] == "70"
    assert "internal error" in lines[LIST_ID][3]
    assert "ZeroDivisionError" in lines[LIST_ID][3]
    assert lines[OTHER_ID][1] == "0"
    assert _rows_of(world.site, LIST_ID) == before
    assert _versions(world.site) == {LIST_ID: "1.0", OTHER_ID: "2.0"}
    assert "Traceback" not in result.err
