"""Attack: image ids that would become paths or shell code in the cache or in handlers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.subscriber.support import World, make_image

HOSTILE = [
    "../../../../etc/cron.d/evil",
    "/etc/passwd",
    "img/../../x",
    "..",
    "$(touch /tmp/imagelist-pwned)",
    "`touch /tmp/imagelist-pwned`",
    "img; rm -rf /",
    "img\nVMCATCHER_EVENT_TYPE=x",
    "img with space",
    "-rf",
]


@pytest.mark.parametrize("identifier", HOSTILE)
def test_unsafe_image_identifier_refuses_the_list(world: World, identifier: str) -> None:
    hostile = (*world.images, make_image(identifier))
    world.publish(world.make(version="2.0", images=hostile))
    result = world.assert_refused(31, "-x", "touch /tmp/imagelist-handler-ran")
    assert "not a safe identifier" in result.out
    assert not Path("/tmp/imagelist-pwned").exists()
    assert not Path("/tmp/imagelist-handler-ran").exists()
