"""Attack: the server sends the list's JSON without any signature."""

from __future__ import annotations

from tests.subscriber.support import World


def test_unsigned_list_is_refused(world: World) -> None:
    world.publish(world.make(version="2.0").to_json_bytes())
    result = world.assert_refused(11)
    assert "\t11\trejected\t" in result.out
