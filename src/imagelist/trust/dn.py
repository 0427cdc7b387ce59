"""Distinguished names in the OpenSSL one-line form.

vmcatcher compares ``hv:dn``/``hv:ca`` and its endorser rows with ``X509_NAME_oneline``: every
attribute as ``/SN=value`` in certificate order (not reversed), the short names OpenSSL knows, and
each byte of the encoded value outside printable ASCII as ``\\xHH``. OpenSSL 3 (the form
``openssl x509 -noout -subject -nameopt compat`` prints today) also escapes ``/`` and ``+``
inside values and joins the members of a multi-valued RDN with ``+``; OpenSSL 1.x, which the
original tools ran on, did neither. :func:`name_oneline` renders the OpenSSL 3 form by default
and the 1.x form with ``legacy=True``; :func:`dn_matches` accepts either. cryptography's RFC 4514
rendering is reversed and escaped, so it must not be used for these comparisons.
"""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = ["dn_matches", "issuer_oneline", "name_oneline", "subject_oneline"]

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
    "2.5.4.15": "businessCategory",
    "2.5.4.17": "postalCode",
    "2.5.4.18": "postOfficeBox",
    "2.5.4.41": "name",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.45": "x500UniqueIdentifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.72": "role",
    "2.5.4.97": "organizationIdentifier",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "1.2.840.113549.1.9.8": "unstructuredAddress",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}

_GENERAL_STRING_TAG = 27


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
    """
    name = asn1_x509.Name.load(der_name)
    parts: list[str] = []
    for rdn in name.chosen:
        for position, attribute in enumerate(rdn):
            oid = attribute["type"].dotted
            label = _SHORT_NAMES.get(oid, oid)
            value = attribute["value"]
            # The value's own content octets, whatever its string type (UTF8, BMP, Printable...).
            parsed = value.chosen if hasattr(value, "chosen") else value
            contents = parsed.contents or b""
            separator = "+" if position and not legacy else "/"
            parts.append(f"{separator}{label}={_value_text(contents, parsed.tag, legacy=legacy)}")
    return "".join(parts)


def _certificate_names(cert: x509.Certificate) -> tuple[bytes, bytes]:
    tbs = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))["tbs_certificate"]
    return tbs["subject"].dump(), tbs["issuer"].dump()


def subject_oneline(cert: x509.Certificate, *, legacy: bool = False) -> str:
    """The certificate subject, as ``openssl x509 -noout -subject -nameopt compat`` prints it."""
    return name_oneline(_certificate_names(cert)[0], legacy=legacy)


def issuer_oneline(cert: x509.Certificate, *, legacy: bool = False) -> str:
    """The certificate issuer, in the same form as :func:`subject_oneline`."""
    return name_oneline(_certificate_names(cert)[1], legacy=legacy)


def dn_matches(claimed: str, der_name: bytes) -> bool:
    """True when ``claimed`` equals the name in the OpenSSL 3 or the OpenSSL 1.x one-line form."""
    return claimed in (name_oneline(der_name), name_oneline(der_name, legacy=True))
