"""Attack: a list dated in the future (to outlive a later revocation)."""

from __future__ import annotations

from datetime import timedelta

from tests.subscriber.support import World, now


def test_list_created_in_the_future_is_refused(world: World) -> None:
    world.publish(world.make(version="2.0", created=now() + timedelta(days=1)))
    result = world.assert_refused(33)
    assert "created in the future" in result.out
