"""Attack: a list signed by a certificate from a CA the site does not trust."""

from __future__ import annotations

from tests.pki import TestPki
from tests.subscriber.support import World, make_list


def test_list_from_an_untrusted_ca_is_refused(world: World, test_pki: TestPki) -> None:
    forged = make_list(
        test_pki.untrusted_endorser, version="2.0", images=world.images, uri=world.url
    )
    world.publish(forged, signer=test_pki.untrusted_endorser)
    result = world.assert_refused(11)
    assert "untrusted" in result.out.lower() or "trust" in result.out.lower()
