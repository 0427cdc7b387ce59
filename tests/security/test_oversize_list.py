"""Attack: the server sends endless data (memory exhaustion), or announces a huge list."""

from __future__ import annotations

import time

from tests.subscriber.support import World


def test_endless_data_stops_at_the_size_cap(world: World) -> None:
    world.server.put(world.path, endless=True)
    started = time.monotonic()
    result = world.assert_refused(10)
    assert time.monotonic() - started < 20
    assert "more than the limit of 16777216 bytes" in result.out


def test_announced_oversize_list_is_not_read(world: World) -> None:
    world.server.put(world.path, b"x" * 2048)
    result = world.assert_refused(10, "--max-list-size", "1024")
    assert "more than the limit of 1024 bytes" in result.out
