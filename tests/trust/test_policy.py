"""Namespace policy files: parsing, full-subject matching (the D5 fix), and refusal of garbage."""

from __future__ import annotations

import pytest

from imagelist.trust.policy import parse_namespaces, parse_signing_policy

NAMESPACES = """\
##############################################################################
# NAMESPACES-VERSION: 1.0
#
TO Issuer "/DC=org/DC=example/CN=Example CA" \\
  PERMIT Subject "/DC=org/DC=example/.*" \\
  DENY Subject "/DC=org/DC=example/CN=Banned.*"
"""

SIGNING_POLICY = """\
# comment
access_id_CA   X509   '/DC=org/DC=example/CN=Example CA'
pos_rights     globus CA:sign
cond_subjects  globus '"/DC=org/DC=example/*" "/C=DE/O=Grid.Example/*"'
"""


def test_namespaces_permit_and_deny() -> None:
    (policy,) = parse_namespaces(NAMESPACES, "x.namespaces")
    assert policy.ca_dn == "/DC=org/DC=example/CN=Example CA"
    assert policy.allows("/DC=org/DC=example/CN=Alice")
    assert not policy.allows("/DC=org/DC=example/CN=Banned Bob")
    assert not policy.allows("/DC=org/DC=other/CN=Mallory")
    # Anchored at both ends: a prefix of an allowed name is not enough.
    assert not policy.allows("/DC=org/DC=exampleX/CN=Alice")


def test_signing_policy_globs_escape_dots() -> None:
    (policy,) = parse_signing_policy(SIGNING_POLICY, "x.signing_policy")
    assert policy.ca_dn == "/DC=org/DC=example/CN=Example CA"
    assert policy.allows("/C=DE/O=Grid.Example/CN=Carol")
    # The old validator left the dot unescaped: "GridXExample" passed. Not any more.
    assert not policy.allows("/C=DE/O=GridXExample/CN=Carol")
    assert not policy.allows("/DC=org/DC=evil/CN=Mallory")


@pytest.mark.parametrize(
    "text",
    [
        'FROM Issuer "/x" PERMIT Subject ".*"',
        'TO Issuer "/x" PERMIT Subject',
        'TO Issuer "/x" ALLOW Subject ".*"',
        'TO Issuer "/x" PERMIT Subject "(unclosed"',
        'TO Issuer "/x PERMIT Subject ".*"',
    ],
)
def test_bad_namespaces_raise(text: str) -> None:
    with pytest.raises(ValueError, match=r"x\.namespaces"):
        parse_namespaces(text, "x.namespaces")


@pytest.mark.parametrize(
    "text",
    [
        "cond_subjects globus '\"/x/*\"'",
        "access_id_CA X509",
        "bogus_keyword foo",
        "access_id_CA X509 '/x\ncond_subjects globus '\"/x/*\"'",
    ],
)
def test_bad_signing_policy_raise(text: str) -> None:
    with pytest.raises(ValueError, match=r"x\.signing_policy"):
        parse_signing_policy(text, "x.signing_policy")


def test_empty_files_have_no_policy() -> None:
    assert parse_namespaces("# nothing\n\n") == []
    assert parse_signing_policy("") == []
