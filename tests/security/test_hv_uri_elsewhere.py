"""Attack: a signed list whose hv:uri points elsewhere, to move the subscription (D16)."""

from __future__ import annotations

from tests.subscriber.support import World


def test_moved_hv_uri_is_reported_not_followed(world: World) -> None:
    world.publish(world.make(version="2.0", uri="http://attacker.example/image.list"))
    result = world.assert_refused(18)
    assert "hv:uri changed" in result.out
    assert "attacker.example" in result.out
    hits = world.server.hits(world.path)
    world.assert_refused(18)
    assert world.server.hits(world.path) == hits + 1, "still fetched from the subscribed URL"
    (uri,) = world.site.query("select uri from subscription")
    assert uri == (world.url,)
