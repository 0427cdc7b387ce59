"""Attack: replaying a validly signed list whose dc:date:expires has passed."""

from __future__ import annotations

from datetime import timedelta

from tests.subscriber.support import World, now


def test_expired_list_is_refused(world: World) -> None:
    created = now() - timedelta(days=60)
    world.publish(world.make(version="2.0", created=created, expires=created + timedelta(days=28)))
    result = world.assert_refused(34)
    assert "expired" in result.out
    assert world.site.image("-l").out.splitlines()[0].split("\t")[1] == "3", "img-a still served"
