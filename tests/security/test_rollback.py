"""Attack: replaying an older, validly signed list to bring back revoked images (rollback)."""

from __future__ import annotations

from tests.subscriber.support import World, make_image


def test_replayed_older_list_is_refused(world: World) -> None:
    old = world.publish(world.make(version="1.0"))
    world.publish(world.make(version="1.1", images=(make_image("img-a"),)))  # revokes img-b
    assert world.update().code == 0
    world.publish(old)
    result = world.assert_refused(17)
    assert "lower than the accepted" in result.out


def test_lower_version_is_refused(world: World) -> None:
    world.publish(world.make(version="0.9"))
    world.assert_refused(17)
