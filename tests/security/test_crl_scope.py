"""Attack: the CA's only CRL does not cover the revoked signer (issue 9.2).

A CRL limited by its issuingDistributionPoint (CA certificates only, some reasons, indirect,
another distribution point), a delta CRL or one with an unknown critical extension is no
complete CRL for an end-entity signer: it used to be read as one, so a revoked signer it does
not list was accepted. Now the signer is "not covered" (exit 11, no current CRL), and where
several CRL files exist the current complete one decides.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.crl_cases import build_crl_cases
from tests.pki import Credential, TestPki
from tests.subscriber.support import World, make_list


@pytest.fixture(scope="module")
def crl_dirs(
    test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Credential]]:
    return build_crl_cases(test_pki, tmp_path_factory.mktemp("crl-scope"))


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("only-ca-certs", "only for CA certificates"),
        ("only-some-reasons", "limited to some revocation reasons"),
        ("indirect", "an indirect CRL"),
        ("delta-only", "a delta CRL, not a complete one"),
        ("critical-unknown-extension", "unhandled critical extension 1.3.6.1.4.1.99999.1"),
        ("critical-unknown-entry-extension", "unhandled critical extension 1.3.6.1.4.1.99999.2"),
        ("other-distribution-point", "for another distribution point"),
        ("several-files-delta-and-complete", "was revoked"),
        ("several-files-newest-decides", "was revoked"),
    ],
)
def test_revoked_signer_not_covered_is_refused(
    world: World,
    test_pki: TestPki,
    crl_dirs: dict[str, tuple[Path, Credential]],
    case: str,
    reason: str,
) -> None:
    world.site.register("revoked", test_pki.revoked)
    world.site.endorser("--link", "-e", "revoked", "-s", world.make().identifier)
    signed = make_list(test_pki.revoked, version="2.0", images=world.images, uri=world.url)
    world.publish(signed, signer=test_pki.revoked)
    world.site = replace(world.site, trust_dir=crl_dirs[case][0])
    result = world.assert_refused(11)
    (line,) = result.out.strip().splitlines()
    assert reason in line
    if reason != "was revoked":
        assert "no current CRL of CA /DC=org/DC=imagelist-test/CN=Test Intermediate CA" in line


def test_intermediate_not_covered_by_a_user_only_root_crl(
    world: World, crl_dirs: dict[str, tuple[Path, Credential]]
) -> None:
    world.publish(world.make(version="2.0"))
    world.site = replace(world.site, trust_dir=crl_dirs["only-user-certs-root"][0])
    result = world.assert_refused(11)
    assert "only for end-entity certificates" in result.out
    assert "covers /DC=org/DC=imagelist-test/CN=Test Intermediate CA" in result.out


def test_user_only_crl_covers_an_end_entity_signer(
    world: World, crl_dirs: dict[str, tuple[Path, Credential]]
) -> None:
    world.publish(world.make(version="2.0"))
    world.site = replace(world.site, trust_dir=crl_dirs["only-user-certs-intermediate-good"][0])
    result = world.update()
    assert result.code == 0, (result.out, result.err)
