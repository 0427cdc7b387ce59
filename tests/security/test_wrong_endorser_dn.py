"""Attack: a trusted signer claims to be another endorser (hv:dn/hv:ca not the signer's)."""

from __future__ import annotations

from tests.pki import TestPki
from tests.subscriber.support import World, make_list


def test_claimed_endorser_must_be_the_signer(world: World, test_pki: TestPki) -> None:
    # Signed by "direct" (trusted), claiming the subscribed endorser's DN.
    claim = make_list(
        test_pki.direct,
        version="2.0",
        images=world.images,
        uri=world.url,
        dn=test_pki.good.subject_oneline,
        ca=test_pki.good.issuer_oneline,
    )
    world.publish(claim, signer=test_pki.direct)
    result = world.assert_refused(12)
    assert "is not the signer" in result.out
