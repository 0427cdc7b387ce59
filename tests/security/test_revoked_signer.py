"""Attack: a list signed with a certificate its CA has revoked (listed in the CRL)."""

from __future__ import annotations

from tests.pki import TestPki
from tests.subscriber.support import World, make_list


def test_revoked_signer_is_refused(world: World, test_pki: TestPki) -> None:
    world.site.register("revoked", test_pki.revoked)
    world.site.endorser("--link", "-e", "revoked", "-s", world.make().identifier)
    signed = make_list(test_pki.revoked, version="2.0", images=world.images, uri=world.url)
    world.publish(signed, signer=test_pki.revoked)
    result = world.assert_refused(11)
    assert "revoked" in result.out.lower()
