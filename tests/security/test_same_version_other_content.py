"""Attack: a list with the accepted version number but other content (a silent swap)."""

from __future__ import annotations

from tests.subscriber.support import World, make_image


def test_same_version_with_other_content_is_refused(world: World) -> None:
    swapped = (make_image("img-a", content=b"trojan"), world.images[1])
    world.publish(world.make(version="1.0", images=swapped))
    result = world.assert_refused(16)
    assert "content differs" in result.out
