"""One-line DN rendering details that the oracle comparison does not reach."""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509

from imagelist.trust.dn import dn_matches, name_oneline


def _name(*rdns: list[tuple[str, object]]) -> bytes:
    return asn1_x509.Name.build({}).dump() if not rdns else _build(rdns)


def _build(rdns: tuple[list[tuple[str, object]], ...]) -> bytes:
    sequence = asn1_x509.RDNSequence(
        [
            asn1_x509.RelativeDistinguishedName(
                [asn1_x509.NameTypeAndValue({"type": oid, "value": value}) for oid, value in rdn]
            )
            for rdn in rdns
        ]
    )
    return asn1_x509.Name(name="", value=sequence).dump()


def test_empty_name() -> None:
    assert name_oneline(_name()) == ""


def test_openssl3_and_legacy_forms() -> None:
    der = _build(
        (
            [("domain_component", asn1_x509.DNSName("org"))],
            [("common_name", asn1_x509.DirectoryString(name="utf8_string", value="a/b+c"))],
            [
                ("common_name", asn1_x509.DirectoryString(name="utf8_string", value="x")),
                ("serial_number", asn1_x509.PrintableString("7")),
            ],
        )
    )
    assert name_oneline(der) == "/DC=org/CN=a\\/b\\+c/CN=x+serialNumber=7"
    assert name_oneline(der, legacy=True) == "/DC=org/CN=a/b+c/CN=x/serialNumber=7"
    # The 1.x spelling differs from the OpenSSL 3 form here, so it is ambiguous: never a match.
    assert not dn_matches("/DC=org/CN=a/b+c/CN=x/serialNumber=7", der)
    assert dn_matches("/DC=org/CN=a\\/b\\+c/CN=x+serialNumber=7", der)
    assert not dn_matches("/DC=org/CN=a", der)


def test_non_ascii_bytes_are_hex_escaped() -> None:
    der = _build(([("common_name", asn1_x509.DirectoryString(name="utf8_string", value="é"))],))
    assert name_oneline(der) == "/CN=\\xC3\\xA9"
