"""Attack: the CA's CRL on the site is stale (fetch-crl stopped), so revocations are unknown."""

from __future__ import annotations

from dataclasses import replace

from tests.pki import TestPki
from tests.subscriber.support import World


def test_stale_crl_refuses_new_lists(world: World, test_pki: TestPki) -> None:
    world.publish(world.make(version="2.0"))
    world.site = replace(world.site, trust_dir=test_pki.stale_crl_dir)
    result = world.assert_refused(11)
    assert "crl" in result.out.lower()
