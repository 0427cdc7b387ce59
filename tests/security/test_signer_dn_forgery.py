"""Attack: a certificate whose subject only *renders* like the pinned endorser's DN (issue 9.1).

Every signer here is issued by the trusted test intermediate, inside its namespace; only the
name differs. In the OpenSSL 1.x one-line form an O value with ``/CN=...`` inside, or a
multi-valued RDN ``O=...+CN=...``, reads exactly like the pinned ``/.../O=Endorsers/CN=...``;
in the OpenSSL 3 form a value ending in a backslash reads like an escaped slash. None of them
may pass for the pinned endorser.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.pki import Credential, IgtfDirectory, TestPki
from tests.signers import issue
from tests.subscriber.support import World, make_list

A = x509.NameAttribute
PREFIX = [
    x509.RelativeDistinguishedName([A(NameOID.DOMAIN_COMPONENT, "org")]),
    x509.RelativeDistinguishedName([A(NameOID.DOMAIN_COMPONENT, "imagelist-test")]),
]


def _signer(pki: TestPki, *rdns: list[x509.NameAttribute[str]]) -> Credential:
    name = x509.Name([*PREFIX, *(x509.RelativeDistinguishedName(rdn) for rdn in rdns)])
    return issue(pki.intermediate, name, now=pki.now)


def _forgers(pki: TestPki) -> dict[str, Credential]:
    return {
        "slash-in-value": _signer(
            pki, [A(NameOID.ORGANIZATION_NAME, "Endorsers/CN=Good Endorser")]
        ),
        "multi-valued-rdn": _signer(
            pki,
            [A(NameOID.ORGANIZATION_NAME, "Endorsers"), A(NameOID.COMMON_NAME, "Good Endorser")],
        ),
        "plus-in-value": _signer(pki, [A(NameOID.ORGANIZATION_NAME, "Endorsers+CN=Good Endorser")]),
    }


@pytest.mark.parametrize("kind", ["slash-in-value", "multi-valued-rdn", "plus-in-value"])
def test_lookalike_subject_is_not_the_pinned_endorser(
    world: World, test_pki: TestPki, kind: str
) -> None:
    forger = _forgers(test_pki)[kind]
    pinned = test_pki.good.subject_oneline
    assert forger.subject_oneline != pinned  # OpenSSL 3 tells them apart...
    # ...the list claims the pinned endorser, as the 1.x rendering of the forger's name reads.
    claim = make_list(
        forger,
        version="2.0",
        images=world.images,
        uri=world.url,
        dn=pinned,
        ca=test_pki.good.issuer_oneline,
    )
    world.publish(claim, signer=forger)
    result = world.assert_refused(12)
    (line,) = result.out.strip().splitlines()
    assert "is not the signer" in line
    assert repr(forger.subject_oneline) in line


@pytest.mark.parametrize("kind", ["slash-in-value", "multi-valued-rdn"])
def test_lookalike_subject_under_its_own_name_is_not_linked(
    world: World, test_pki: TestPki, kind: str
) -> None:
    forger = _forgers(test_pki)[kind]
    honest = make_list(forger, version="2.0", images=world.images, uri=world.url)
    world.publish(honest, signer=forger)
    result = world.assert_refused(13)
    assert "is not an endorser linked" in result.out


def test_backslash_before_a_separator_is_not_an_escaped_slash(
    world: World, test_pki: TestPki
) -> None:
    """``O=Endorsers\\`` + ``CN=Slash`` and ``O=Endorsers/CN=Slash`` print the same OpenSSL 3
    form: the name with the backslash cannot be compared, so it never matches the pinned one."""
    pinned = _signer(test_pki, [A(NameOID.ORGANIZATION_NAME, "Endorsers/CN=Slash")])
    forger = _signer(
        test_pki, [A(NameOID.ORGANIZATION_NAME, "Endorsers\\")], [A(NameOID.COMMON_NAME, "Slash")]
    )
    assert forger.subject_oneline == pinned.subject_oneline  # OpenSSL itself cannot tell
    identifier = world.make().identifier
    world.site.register("slash", pinned)
    assert world.site.endorser("--link", "-e", "slash", "-s", identifier).code == 0
    world.publish(
        make_list(forger, version="2.0", images=world.images, uri=world.url), signer=forger
    )
    result = world.assert_refused(12)
    (line,) = result.out.strip().splitlines()
    assert "contains a backslash" in line
    # The legitimate holder of the pinned name is accepted.
    world.publish(
        make_list(pinned, version="3.0", images=world.images, uri=world.url), signer=pinned
    )
    accepted = world.update()
    assert accepted.code == 0, (accepted.out, accepted.err)


def test_namespace_deny_on_any_rendering_denies(
    world: World, test_pki: TestPki, tmp_path: Path
) -> None:
    """The CA's .namespaces DENYs /.../O=Endorsers/CN=Banned: a subject whose OpenSSL 1.x form
    is that string is denied although its OpenSSL 3 form (``O=Endorsers\\/CN=Banned``) is not."""
    inter = test_pki.intermediate
    text = (
        f'TO Issuer "{inter.subject_oneline}" \\\n'
        '  PERMIT Subject "/DC=org/DC=imagelist-test/.*" \\\n'
        '  DENY Subject "/DC=org/DC=imagelist-test/O=Endorsers/CN=Banned"\n'
    )
    directory = IgtfDirectory(tmp_path / "deny")
    directory.add_ca(test_pki.root, crl=test_pki.root_crl)
    directory.add_ca(inter, crl=test_pki.intermediate_crl, namespaces=text)
    banned = _signer(test_pki, [A(NameOID.ORGANIZATION_NAME, "Endorsers/CN=Banned")])
    assert banned.subject_oneline == "/DC=org/DC=imagelist-test/O=Endorsers\\/CN=Banned"
    world.site.register("banned", banned)
    assert world.site.endorser("--link", "-e", "banned", "-s", world.make().identifier).code == 0
    world.publish(
        make_list(banned, version="2.0", images=world.images, uri=world.url), signer=banned
    )
    world.site = replace(world.site, trust_dir=directory.path)
    result = world.assert_refused(11)
    (line,) = result.out.strip().splitlines()
    assert "is outside the namespace of CA" in line
