"""Attack: a list signed by a trusted, even registered, endorser not linked to the subscription."""

from __future__ import annotations

import pytest

from tests.pki import TestPki
from tests.subscriber.support import World, make_list


@pytest.mark.parametrize("registered", [False, True])
def test_signer_not_linked_to_the_subscription(
    world: World, test_pki: TestPki, registered: bool
) -> None:
    if registered:
        world.site.register("someone-else", test_pki.direct)
    other = make_list(test_pki.direct, version="2.0", images=world.images, uri=world.url)
    world.publish(other, signer=test_pki.direct)
    result = world.assert_refused(13)
    assert "is not an endorser linked to subscription" in result.out
