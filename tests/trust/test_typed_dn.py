"""DNs typed by people: the slash form is checked, the comma forms are converted (issue 10.5)."""

from __future__ import annotations

import pytest

from imagelist.errors import UsageError
from imagelist.trust.typed_dn import normalise_typed_dn


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("CN=x,O=y,DC=es", "/DC=es/O=y/CN=x"),
        ("CN=alvarosimon,O=cesga,DC=irisgrid,DC=es", "/DC=es/DC=irisgrid/O=cesga/CN=alvarosimon"),
        # openssl x509 -subject (OpenSSL 3 default): certificate order, spaces around '='.
        (
            "DC = es, DC = irisgrid, O = cesga, CN = alvarosimon",
            "/DC=es/DC=irisgrid/O=cesga/CN=alvarosimon",
        ),
        ("subject=DC = es, O = a/b, CN = Jos\\C3\\A9", "/DC=es/O=a\\/b/CN=Jos\\xC3\\xA9"),
        ("CN=Bob+OU=Users,DC=org", "/DC=org/OU=Users+CN=Bob"),
        ("CN=host/vm01.example.org,DC=org", "/DC=org/CN=host\\/vm01.example.org"),
        ('CN=a\\,b,O="q,r"', "/O=q,r/CN=a,b"),
        ("OU=x\\2Cy,2.5.4.3=z", "/CN=z/OU=x,y"),
        ("E=a@b.org,cn=Ünï", "/CN=\\xC3\\x9Cn\\xC3\\xAF/emailAddress=a@b.org"),
    ],
)
def test_comma_forms_are_converted(typed: str, stored: str) -> None:
    assert normalise_typed_dn(typed) == (stored, True)


@pytest.mark.parametrize(
    "typed",
    [
        "/DC=es/O=cesga/CN=x",
        "/DC=org/CN=a\\/b\\+c+serialNumber=7",
        "/CN=\\xC3\\xA9",
        "/"[:0] + "/CN=",
    ],
)
def test_slash_forms_are_kept(typed: str) -> None:
    assert normalise_typed_dn(typed) == (typed, False)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("foo", "is not a DN"),
        ("", "must not be empty"),
        ("/DC=es/O=cesga/CN=host/vm01", "'\\/'"),
        ("/DC=es/Email=x", "'emailAddress'"),
        ("/DC=es/CN=a\\b", "backslash"),
        ("CN=a\\\\b", "backslash"),
        ("XX=1,DC=es", "unknown attribute type 'XX'"),
        ("CN=#0101", "not supported"),
        ('CN="open', "unterminated"),
        (",CN=x", "expected TYPE=value"),
    ],
)
def test_what_cannot_match_is_refused(typed: str, reason: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        normalise_typed_dn(typed)
    assert reason in str(excinfo.value)
    assert excinfo.value.exit_code == 1
