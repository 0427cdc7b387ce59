"""Attack: another list (other dc:identifier) served at the subscription's URL."""

from __future__ import annotations

from tests.subscriber.support import World


def test_other_list_at_the_subscription_url_is_refused(world: World) -> None:
    world.publish(world.make(version="2.0", identifier="0f6b4c1e-other-list"))
    result = world.assert_refused(31)
    assert "is not the subscription's" in result.out
