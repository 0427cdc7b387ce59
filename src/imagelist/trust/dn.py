"""Distinguished names in the OpenSSL one-line form.

vmcatcher compares ``hv:dn``/``hv:ca`` and its endorser rows with ``X509_NAME_oneline``: every
attribute as ``/SN=value`` in certificate order (not reversed), the short names OpenSSL knows, and
each byte of the encoded value outside printable ASCII as ``\\xHH``. OpenSSL 3 (the form
``openssl x509 -noout -subject -nameopt compat`` prints today) also escapes ``/`` and ``+``
inside values and joins the members of a multi-valued RDN with ``+``; OpenSSL 1.x, which the
original tools ran on, did neither. :func:`name_oneline` renders the OpenSSL 3 form by default
and the 1.x form with ``legacy=True``. cryptography's RFC 4514 rendering is reversed and escaped,
so it must not be used for these comparisons.

A signer's identity is compared only in the OpenSSL 3 form, and only for names whose form cannot
be produced by another name (:func:`pinned_oneline`, ADR 8): the 1.x form is the same string for
``O=a/CN=b`` and ``O=a`` + ``CN=b``, and even the OpenSSL 3 form is ambiguous when a value holds a
backslash (``\\/`` is an escaped slash or a backslash before a separator) or when the same bytes
mean different text in different string types (BMPString, non-ASCII T61String).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from asn1crypto.core import ObjectIdentifier
from asn1crypto.parser import parse
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = [
    "AMBIGUITY_FREE_TAGS",
    "NameAttribute",
    "ambiguity",
    "dn_matches",
    "issuer_oneline",
    "name_oneline",
    "name_rdns",
    "pinned_oneline",
    "subject_oneline",
]

# OpenSSL's short names (OBJ_nid2sn) for the attribute types found in certificate names.
_SHORT_NAMES: dict[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.13": "description",
    "2.5.4.14": "searchGuide",
    "2.5.4.15": "businessCategory",
    "2.5.4.16": "postalAddress",
    "2.5.4.17": "postalCode",
    "2.5.4.18": "postOfficeBox",
    "2.5.4.19": "physicalDeliveryOfficeName",
    "2.5.4.20": "telephoneNumber",
    "2.5.4.21": "telexNumber",
    "2.5.4.22": "teletexTerminalIdentifier",
    "2.5.4.23": "facsimileTelephoneNumber",
    "2.5.4.24": "x121Address",
    "2.5.4.25": "internationaliSDNNumber",
    "2.5.4.26": "registeredAddress",
    "2.5.4.27": "destinationIndicator",
    "2.5.4.28": "preferredDeliveryMethod",
    "2.5.4.29": "presentationAddress",
    "2.5.4.30": "supportedApplicationContext",
    "2.5.4.31": "member",
    "2.5.4.32": "owner",
    "2.5.4.33": "roleOccupant",
    "2.5.4.34": "seeAlso",
    "2.5.4.35": "userPassword",
    "2.5.4.36": "userCertificate",
    "2.5.4.37": "cACertificate",
    "2.5.4.38": "authorityRevocationList",
    "2.5.4.39": "certificateRevocationList",
    "2.5.4.40": "crossCertificatePair",
    "2.5.4.41": "name",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.45": "x500UniqueIdentifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.47": "enhancedSearchGuide",
    "2.5.4.48": "protocolInformation",
    "2.5.4.49": "distinguishedName",
    "2.5.4.50": "uniqueMember",
    "2.5.4.51": "houseIdentifier",
    "2.5.4.52": "supportedAlgorithms",
    "2.5.4.53": "deltaRevocationList",
    "2.5.4.54": "dmdName",
    "2.5.4.65": "pseudonym",
    "2.5.4.72": "role",
    "2.5.4.97": "organizationIdentifier",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.3": "mail",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "1.2.840.113549.1.9.8": "unstructuredAddress",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}

#: Names whose renderings are remembered (by their exact DER bytes): every signer, issuer and
#: CA of a trust directory renders once per process, not once per list.
_CACHED_NAMES = 4096
_CACHED_NAME_BYTES = 1024  # real names are a few hundred bytes; a huge one is not kept
_CACHED_CERTIFICATES = 1024  # whose names are remembered, of up to 16 KiB each
_CACHED_CERTIFICATE_BYTES = 16384

_GENERAL_STRING_TAG = 27
_SEQUENCE, _SET, _OID = 16, 17, 6


@dataclass(frozen=True)
class NameAttribute:
    """One attribute of a name as encoded: its OID, its ASN.1 tag and its content octets."""

    oid: str
    tag: int
    contents: bytes
    encoded: bytes


def _children(contents: bytes) -> list[tuple[int, int, bytes, bytes]]:
    """(class, tag, contents, whole encoding) of each TLV in ``contents``."""
    found = []
    rest = contents
    while rest:
        klass, _method, tag, header, inner, trailer = parse(rest)
        size = len(header) + len(inner) + len(trailer)
        found.append((klass, tag, inner, rest[:size]))
        rest = rest[size:]
    return found


def name_rdns(der_name: bytes) -> list[list[NameAttribute]]:
    """The RDNs of a DER-encoded Name, each a list of its attributes in encoding order.

    A generic TLV walk, so that any string type (or none) in any attribute is read as OpenSSL
    reads it. Raises ValueError for an encoding that is not a Name.
    """
    klass, _method, tag, _header, contents, _trailer = parse(der_name, strict=True)
    if klass != 0 or tag != _SEQUENCE:
        raise ValueError("not a DER Name (expected a SEQUENCE)")
    rdns: list[list[NameAttribute]] = []
    for set_class, set_tag, set_contents, _ in _children(contents):
        if set_class != 0 or set_tag != _SET:
            raise ValueError("not a DER Name (expected a SET for each RDN)")
        attributes = []
        for pair_class, pair_tag, pair_contents, _ in _children(set_contents):
            parts = _children(pair_contents) if pair_class == 0 and pair_tag == _SEQUENCE else []
            if len(parts) != 2 or parts[0][1] != _OID or parts[0][0] != 0:
                raise ValueError("not a DER Name (expected type and value in each attribute)")
            oid = ObjectIdentifier.load(parts[0][3]).dotted
            value_class, value_tag, value_contents, value_encoded = parts[1]
            tag_number = value_tag if value_class == 0 else -1
            attributes.append(NameAttribute(oid, tag_number, value_contents, value_encoded))
        rdns.append(attributes)
    return rdns


def _value_text(contents: bytes, tag: int, *, legacy: bool) -> str:
    """Render the raw bytes of one attribute value as X509_NAME_oneline does."""
    keep = [True, True, True, True]
    if tag == _GENERAL_STRING_TAG and len(contents) % 4 == 0:
        # OpenSSL's heuristic for 32-bit strings: print only the low byte when the others are zero.
        nonzero = [False, False, False, False]
        for index, byte in enumerate(contents):
            if byte:
                nonzero[index & 3] = True
        if not (nonzero[0] or nonzero[1] or nonzero[2]):
            keep = [False, False, False, True]
    out: list[str] = []
    for index, byte in enumerate(contents):
        if not keep[index & 3]:
            continue
        if byte < 0x20 or byte > 0x7E:
            out.append(f"\\x{byte:02X}")
        elif not legacy and byte in _ESCAPED:
            out.append("\\" + chr(byte))
        else:
            out.append(chr(byte))
    return "".join(out)


_ESCAPED = frozenset(b"/+")


def name_oneline(der_name: bytes, *, legacy: bool = False) -> str:
    """Render a DER-encoded X.501 Name in the OpenSSL one-line form.

    ``legacy=True`` gives the OpenSSL 1.x rendering (no escapes, ``/`` between all attributes).
    Raises ValueError for an encoding that is not a Name.
    """
    if type(der_name) is bytes and len(der_name) <= _CACHED_NAME_BYTES:
        return _cached_oneline(der_name, legacy)
    return _oneline(der_name, legacy)


@functools.lru_cache(maxsize=_CACHED_NAMES)
def _cached_oneline(der_name: bytes, legacy: bool) -> str:
    # A function of the exact bytes alone; a failure (ValueError) is not cached.
    return _oneline(der_name, legacy)


def _oneline(der_name: bytes, legacy: bool) -> str:
    parts: list[str] = []
    for rdn in name_rdns(der_name):
        for position, attribute in enumerate(rdn):
            label = _SHORT_NAMES.get(attribute.oid, attribute.oid)
            separator = "+" if position and not legacy else "/"
            text = _value_text(attribute.contents, attribute.tag, legacy=legacy)
            parts.append(f"{separator}{label}={text}")
    return "".join(parts)


def _certificate_names(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """The subject and issuer exactly as encoded in the certificate (not re-encoded)."""
    der = cert.public_bytes(Encoding.DER)
    if len(der) <= _CACHED_CERTIFICATE_BYTES:
        return _cached_certificate_names(der)
    return _names_of(der)


@functools.lru_cache(maxsize=_CACHED_CERTIFICATES)
def _cached_certificate_names(der: bytes) -> tuple[bytes, bytes]:
    return _names_of(der)


def _names_of(der: bytes) -> tuple[bytes, bytes]:
    _, _, _, _, certificate, _ = parse(der)
    _, _, _, _, tbs, _ = parse(certificate)
    fields = _children(tbs)
    offset = 1 if fields[0][0] == 2 else 0  # skip the [0] version, present from v2 on
    return fields[offset + 4][3], fields[offset + 2][3]


def subject_oneline(cert: x509.Certificate, *, legacy: bool = False) -> str:
    """The certificate subject, as ``openssl x509 -noout -subject -nameopt compat`` prints it."""
    return name_oneline(_certificate_names(cert)[0], legacy=legacy)


def issuer_oneline(cert: x509.Certificate, *, legacy: bool = False) -> str:
    """The certificate issuer, in the same form as :func:`subject_oneline`."""
    return name_oneline(_certificate_names(cert)[1], legacy=legacy)


#: String types whose bytes below 0x80 mean the same ASCII text: Numeric, Printable, T61, IA5,
#: Visible and UTF8String. Bytes from 0x80 on are accepted in a UTF8String only.
AMBIGUITY_FREE_TAGS = frozenset({18, 19, 20, 22, 26, 12})
_UTF8_STRING = 12
_TAG_NAMES = {
    18: "NumericString",
    19: "PrintableString",
    20: "T61String",
    22: "IA5String",
    26: "VisibleString",
    12: "UTF8String",
    27: "GeneralString",
    28: "UniversalString",
    30: "BMPString",
}


def ambiguity(der_name: bytes) -> str | None:
    """Why the OpenSSL 3 one-line form of this name could also be another name's, or None.

    With none of these, the form parses back to exactly one sequence of RDNs of (attribute type,
    text) pairs: every backslash starts an escape, unescaped ``/`` and ``+`` separate RDNs and
    their members, the label ends at the first ``=`` and names one OID, and the value bytes mean
    the same text whatever the (allowed) string type. The string type itself is not part of the
    identity (X.500 compares values after normalisation, not their ASN.1 type; ADR 8).
    Raises ValueError for an encoding that is not a Name.
    """
    if type(der_name) is bytes and len(der_name) <= _CACHED_NAME_BYTES:
        return _cached_ambiguity(der_name)
    return _ambiguity(der_name)


@functools.lru_cache(maxsize=_CACHED_NAMES)
def _cached_ambiguity(der_name: bytes) -> str | None:
    return _ambiguity(der_name)


def _ambiguity(der_name: bytes) -> str | None:
    for rdn in name_rdns(der_name):
        if not rdn:
            return "it has an empty RDN"
        for attribute in rdn:
            label = _SHORT_NAMES.get(attribute.oid, attribute.oid)
            if attribute.tag not in AMBIGUITY_FREE_TAGS:
                kind = _TAG_NAMES.get(attribute.tag, "a non-string type")
                return f"its {label} value is a {kind}"
            if b"\\" in attribute.contents:
                return f"its {label} value contains a backslash"
            if attribute.tag == _UTF8_STRING:
                try:
                    attribute.contents.decode("utf-8")
                except UnicodeDecodeError:
                    return f"its {label} value is not valid UTF-8"
            elif any(byte >= 0x80 for byte in attribute.contents):
                return f"its {label} value has non-ASCII bytes outside a UTF8String"
    return None


def pinned_oneline(der_name: bytes) -> str | None:
    """The OpenSSL 3 one-line form when no other name can have it (see :func:`ambiguity`)."""
    if ambiguity(der_name) is not None:
        return None
    return name_oneline(der_name)


def dn_matches(claimed: str, der_name: bytes) -> bool:
    """True when ``claimed`` is the name's OpenSSL 3 one-line form and that form is unambiguous.

    The OpenSSL 1.x spelling matches only where it is the same string (no ``/`` or ``+`` inside
    a value, no multi-valued RDN): two different names never match the same ``claimed``.
    """
    pinned = pinned_oneline(der_name)
    return pinned is not None and claimed == pinned
