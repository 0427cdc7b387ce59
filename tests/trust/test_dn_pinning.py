"""Pinned DNs are unforgeable: two different names never give the same accepted string (9.1).

The accepted string is the OpenSSL 3 one-line form, and only for names :func:`ambiguity` finds
nothing wrong with. The proof here is constructive: that string parses back to exactly the
name's RDNs of (attribute type, text), whatever the name (hypothesis generates them, with
separators, backslashes, controls and non-ASCII inside values, multi-valued RDNs, repeated
attributes and several string types). What does not count as a difference is the ASN.1 string
type: a UTF8String and a PrintableString of the same text are the same name (ADR 8).
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagelist.errors import AmbiguousNameError
from imagelist.smime import sign_detached
from imagelist.trust import TrustStore
from imagelist.trust.dn import _SHORT_NAMES, ambiguity, dn_matches, name_oneline, pinned_oneline
from imagelist.verify import ListVerifier
from tests.pki import IgtfDirectory, TestPki, make_crl, parse_oneline
from tests.signers import issue
from tests.subscriber.support import make_list

Key = tuple[tuple[tuple[str, str], ...], ...]
_BY_LABEL = {label: oid for oid, label in _SHORT_NAMES.items()}
OIDS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.DOMAIN_COMPONENT,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    x509.ObjectIdentifier("1.2.3.4"),
]
PRINTABLE = "AZaz09 '()+,-./:=?"
TRICKY = "ab/+,=\\\n\t é日\x00\x7f"


def key(name: x509.Name) -> Key:
    """What makes a name: its RDNs of (attribute type, text); not the string types."""
    return tuple(
        tuple((attr.oid.dotted_string, str(attr.value)) for attr in rdn) for rdn in name.rdns
    )


def parse_back(oneline: str) -> Key:
    """The inverse of the OpenSSL 3 form for names without ambiguity (every ``\\`` escapes)."""
    rdns: list[list[tuple[str, str]]] = []
    current = ""
    raw = bytearray()
    index = 0
    pieces: list[tuple[str, bytes]] = []  # (separator, component bytes)
    separator = ""

    def flush() -> None:
        if separator:
            pieces.append((separator, current.encode("ascii") + bytes(raw)))

    while index < len(oneline):
        char = oneline[index]
        if char == "\\":
            if oneline[index + 1] == "x":
                raw.extend(current.encode("ascii"))
                current = ""
                raw.append(int(oneline[index + 2 : index + 4], 16))
                index += 4
                continue
            raw.extend(current.encode("ascii") + oneline[index + 1].encode("ascii"))
            current = ""
            index += 2
            continue
        if char in "/+":
            flush()
            separator, current, raw = char, "", bytearray()
        else:
            raw.extend(char.encode("ascii"))
        index += 1
    flush()
    for sep, component in pieces:
        label, _, value = component.partition(b"=")
        text = label.decode()
        oid = _BY_LABEL.get(text, text)
        if sep == "/":
            rdns.append([])
        rdns[-1].append((oid, value.decode("utf-8")))
    return tuple(tuple(rdn) for rdn in rdns)


def _attribute(draw: Any) -> x509.NameAttribute[str]:
    oid = draw(st.sampled_from(OIDS))
    kind = draw(
        st.sampled_from(
            [
                _ASN1Type.UTF8String,
                _ASN1Type.PrintableString,
                _ASN1Type.IA5String,
                _ASN1Type.BMPString,
                _ASN1Type.T61String,
            ]
        )
    )
    if kind is _ASN1Type.PrintableString:
        value = draw(st.text(alphabet=PRINTABLE, max_size=6))
    elif kind in (_ASN1Type.IA5String, _ASN1Type.T61String):
        value = draw(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=6))
    else:
        value = draw(
            st.text(
                alphabet=st.sampled_from(TRICKY) | st.characters(exclude_categories=("Cs",)),
                max_size=6,
            )
        )
    if oid == NameOID.DOMAIN_COMPONENT:
        kind = _ASN1Type.IA5String
        value = value.encode("ascii", "ignore").decode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.NameAttribute(oid, value, _type=kind, _validate=False)


@st.composite
def names(draw: Any) -> x509.Name:
    rdns = []
    for size in draw(st.lists(st.integers(1, 3), max_size=4)):
        attributes: list[x509.NameAttribute[str]] = []
        for _ in range(size):
            attribute = _attribute(draw)
            if attribute not in attributes:
                attributes.append(attribute)
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names())
def test_accepted_form_parses_back_to_the_name(name: x509.Name) -> None:
    der = name.public_bytes()
    pinned = pinned_oneline(der)
    if pinned is None:
        assert ambiguity(der) is not None
        return
    assert pinned == name_oneline(der)
    # Members of a multi-valued RDN are rendered in encoding (DER SET) order.
    rdns = tuple(tuple(sorted(rdn)) for rdn in parse_back(pinned))
    assert rdns == tuple(tuple(sorted(rdn)) for rdn in key(name))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names(), names())
def test_distinct_names_never_give_the_same_accepted_string(a: x509.Name, b: x509.Name) -> None:
    pinned = pinned_oneline(a.public_bytes())
    if pinned is not None and dn_matches(pinned, b.public_bytes()):
        assert sorted(map(sorted, key(a))) == sorted(map(sorted, key(b)))


def _name(*rdns: list[tuple[x509.ObjectIdentifier, str, _ASN1Type | None]]) -> bytes:
    return x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(oid, value, _type=kind)
                    if kind
                    else x509.NameAttribute(oid, value)
                    for oid, value, kind in rdn
                ]
            )
            for rdn in rdns
        ]
    ).public_bytes()


ORG, CN = NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME
SLASH = _name([(ORG, "a/CN=bb", None)])
# "bb" makes the O member sort first in the DER SET of the multi-valued RDN.
SPLIT = _name([(ORG, "a", None)], [(CN, "bb", None)])
MULTI = _name([(ORG, "a", None), (CN, "bb", None)])
BACKSLASH = _name([(ORG, "a\\", None)], [(CN, "bb", None)])


def test_the_forgeries_of_the_issue() -> None:
    # The 1.x rendering is one string for three names...
    assert {name_oneline(n, legacy=True) for n in (SLASH, SPLIT, MULTI)} == {"/O=a/CN=bb"}
    # ...only the plain one is pinned by it, the others by their OpenSSL 3 form.
    assert dn_matches("/O=a/CN=bb", SPLIT)
    assert not dn_matches("/O=a/CN=bb", SLASH)
    assert not dn_matches("/O=a/CN=bb", MULTI)
    assert dn_matches("/O=a\\/CN=bb", SLASH)
    assert dn_matches("/O=a+CN=bb", MULTI)
    # A backslash before a separator renders like an escaped slash: that name is not pinnable.
    assert name_oneline(BACKSLASH) == name_oneline(SLASH)
    assert pinned_oneline(BACKSLASH) is None
    assert ambiguity(BACKSLASH) == "its O value contains a backslash"
    assert not dn_matches("/O=a\\/CN=bb", BACKSLASH)


def test_string_types_that_change_the_meaning_of_bytes_are_not_pinnable() -> None:
    bmp = _name([(CN, "AB", _ASN1Type.BMPString)])
    assert name_oneline(bmp) == "/CN=\\x00A\\x00B"
    assert ambiguity(bmp) == "its CN value is a BMPString"
    t61 = _name([(CN, "Café", _ASN1Type.T61String)])
    assert ambiguity(t61) == "its CN value has non-ASCII bytes outside a UTF8String"
    # Same text, UTF8String or PrintableString: the same name, the same pinned string.
    utf8 = _name([(CN, "Alice", _ASN1Type.UTF8String)])
    printable = _name([(CN, "Alice", _ASN1Type.PrintableString)])
    assert utf8 != printable
    assert pinned_oneline(utf8) == pinned_oneline(printable) == "/CN=Alice"


def test_empty_rdn_is_not_pinnable() -> None:
    # SEQUENCE { SET {}, SET { SEQUENCE { CN "b" } } } renders like /CN=b alone.
    inner = bytes.fromhex("3100") + bytes.fromhex("310a300806035504030c0162")
    der = bytes([0x30, len(inner)]) + inner
    assert name_oneline(der) == "/CN=b"
    assert ambiguity(der) == "it has an empty RDN"
    assert not dn_matches("/CN=b", der)


def test_signer_whose_issuer_name_is_ambiguous_is_refused(
    test_pki: TestPki, tmp_path: Path
) -> None:
    """The issuer (hv:ca) is held to the same rule as the subject: exit 12, one line."""
    day = dt.timedelta(days=1)
    bmp = x509.NameAttribute(NameOID.COMMON_NAME, "BMP CA", _type=_ASN1Type.BMPString)
    org = x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org")
    bmp_ca = issue(
        None,
        x509.Name([x509.RelativeDistinguishedName([org]), x509.RelativeDistinguishedName([bmp])]),
        now=test_pki.now,
        ca=True,
    )
    directory = IgtfDirectory(tmp_path / "bmp")
    crl = make_crl(bmp_ca, last_update=test_pki.now - day, next_update=test_pki.now + day)
    directory.add_ca(bmp_ca, crl=crl)
    signer = issue(bmp_ca, parse_oneline("/DC=org/CN=Under BMP"), now=test_pki.now)
    imagelist = make_list(signer, dn=signer.subject_oneline, ca=signer.issuer_oneline)
    signed = sign_detached(imagelist.to_json_bytes(), signer.cert, signer.key)
    with pytest.raises(AmbiguousNameError) as excinfo:
        ListVerifier(TrustStore.load(directory.path)).verify(signed)
    assert excinfo.value.exit_code == 12
    assert "signer issuer '/DC=org/CN=\\\\x00B\\\\x00M\\\\x00P" in str(excinfo.value)
    assert "its CN value is a BMPString" in str(excinfo.value)
