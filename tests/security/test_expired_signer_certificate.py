"""Attack: a list signed with an expired certificate (e.g. a stolen key of a retired endorser)."""

from __future__ import annotations

from tests.pki import TestPki
from tests.subscriber.support import World, make_list


def test_expired_signer_certificate_is_refused(world: World, test_pki: TestPki) -> None:
    world.site.register("retired", test_pki.expired)
    world.site.endorser("--link", "-e", "retired", "-s", world.make().identifier)
    signed = make_list(test_pki.expired, version="2.0", images=world.images, uri=world.url)
    world.publish(signed, signer=test_pki.expired)
    result = world.assert_refused(11)
    assert "not valid" in result.out or "expired" in result.out
