"""Attack: the server stalls in the middle of the list (slow retrieval); the update times out."""

from __future__ import annotations

import time

from tests.subscriber.support import World


def test_stall_mid_body_times_out(world: World) -> None:
    data = world.publish(world.make(version="2.0"))
    world.server.put(world.path, data, stall_after=len(data) // 2)
    started = time.monotonic()
    result = world.assert_refused(10, "--read-timeout", "1")
    assert time.monotonic() - started < 10
    assert "stalled" in result.out


def test_trickling_server_hits_the_total_time_limit(world: World) -> None:
    data = world.publish(world.make(version="2.0"))
    world.server.put(world.path, data, rate=len(data) / 10)
    started = time.monotonic()
    world.assert_refused(10, "--read-timeout", "5", "--max-time", "1")
    assert time.monotonic() - started < 10
