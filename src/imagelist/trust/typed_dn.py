"""DNs typed by people: check the OpenSSL slash form, convert the comma forms to it.

Endorser rows and ``hv:dn`` are compared as strings in the OpenSSL 3 one-line form
(``/DC=es/DC=irisgrid/O=cesga/CN=alvarosimon``). A DN typed in a comma form would be stored as
given and never match, so :func:`normalise_typed_dn` converts:

* RFC 4514 (``CN=alvarosimon,O=cesga,DC=irisgrid,DC=es``, what ``openssl x509 -nameopt RFC2253``
  and most LDAP tools print): most specific first, so the order is reversed;
* OpenSSL's default ``-subject`` output (``DC = es, DC = irisgrid, O = cesga, CN = alvarosimon``,
  recognised by the spaces around ``=``): certificate order, kept;

and checks a slash form: every component ``TYPE=value`` with a type OpenSSL prints, ``/`` and
``+`` inside values escaped (``\\/``, ``\\+``), no other backslash than those and ``\\xHH``. A
leading ``subject=``/``issuer=`` (pasted from openssl) is dropped. Anything else is refused with
a UsageError naming the problem (and the likely intended slash form where there is one).
"""

from __future__ import annotations

import re

from ..errors import UsageError
from .dn import _SHORT_NAMES

__all__ = ["normalise_typed_dn"]

_OID = re.compile(r"^\d+(?:\.\d+)+$")
_LABELS: dict[str, str] = {label.upper(): label for label in _SHORT_NAMES.values()}
_LABELS.update(
    {
        "STREET": "street",
        "E": "emailAddress",
        "EMAIL": "emailAddress",
        "GIVENNAME": "GN",
        "SURNAME": "SN",
        "USERID": "UID",
        "DOMAINCOMPONENT": "DC",
        "COMMONNAME": "CN",
        "ORGANIZATIONNAME": "O",
        "ORGANIZATIONALUNITNAME": "OU",
        "COUNTRYNAME": "C",
        "LOCALITYNAME": "L",
        "STATEORPROVINCENAME": "ST",
    }
)
_BY_OID = dict(_SHORT_NAMES)
_HEX = "0123456789abcdefABCDEF"
_EXAMPLES = "'/DC=es/O=cesga/CN=name' or 'CN=name,O=cesga,DC=es'"


def _label(kind: str, what: str, typed: str) -> str:
    name = kind.strip()
    if _OID.match(name):
        return _BY_OID.get(name, name)
    label = _LABELS.get(name.upper())
    if label is None:
        raise UsageError(f"{what} {typed!r}: unknown attribute type {name!r}")
    return label


def _oneline_value(text: str, what: str, typed: str) -> str:
    """A value as the OpenSSL 3 one-line form prints its UTF-8 bytes."""
    if "\\" in text:
        raise UsageError(
            f"{what} {typed!r}: a backslash inside a value cannot be matched unambiguously"
        )
    out = []
    for byte in text.encode("utf-8"):
        if byte < 0x20 or byte > 0x7E:
            out.append(f"\\x{byte:02X}")
        elif byte in b"/+":
            out.append("\\" + chr(byte))
        else:
            out.append(chr(byte))
    return "".join(out)


def _check_slash(typed: str, what: str) -> str:
    """Validate an OpenSSL 3 one-line DN; return it unchanged."""
    components: list[str] = []
    current = ""
    index = 1
    while index < len(typed):
        char = typed[index]
        if char == "\\":
            pair = typed[index : index + 2]
            hexa = typed[index : index + 4]
            if pair in ("\\/", "\\+"):
                current += pair
                index += 2
                continue
            if len(hexa) == 4 and hexa[1] == "x" and all(c in _HEX for c in hexa[2:]):
                current += hexa
                index += 4
                continue
            raise UsageError(
                f"{what} {typed!r}: a backslash inside a value cannot be matched unambiguously "
                "(only \\/, \\+ and \\xHH escapes exist in the OpenSSL one-line form)"
            )
        if char in "/+":
            components.append(current)
            current = ""
        else:
            current += char
        index += 1
    components.append(current)
    for position, component in enumerate(components):
        kind, sep, _value = component.partition("=")
        if not sep or not kind:
            hint = ""
            if position:
                hint = (
                    "; a '/' or '+' inside a value is written '\\/' or '\\+' (the OpenSSL 3 "
                    "form that 'openssl x509 -noout -subject -nameopt compat' prints)"
                )
            raise UsageError(f"{what} {typed!r}: component {component!r} is not TYPE=value{hint}")
        if kind != _label(kind, what, typed):
            raise UsageError(
                f"{what} {typed!r}: write the attribute type {kind!r} as OpenSSL prints it, "
                f"{_label(kind, what, typed)!r}"
            )
    return typed


def _split_comma(text: str, what: str, typed: str) -> list[list[tuple[str, str]]]:
    """RDNs of a comma form, each a list of (type, value) in the order written."""
    rdns: list[list[tuple[str, str]]] = [[]]
    kind: str | None = None
    buffer = ""
    quoted = False
    index = 0

    def finish() -> None:
        if kind is None:
            raise UsageError(f"{what} {typed!r}: expected TYPE=value before {text[index:]!r}")
        value = buffer.strip(" ") if not quoted else buffer
        rdns[-1].append((kind, value))

    while index < len(text):
        char = text[index]
        if kind is None:
            if char == "=":
                kind, buffer, quoted = buffer, "", False
                while text[index + 1 : index + 2] == " ":
                    index += 1
                if text[index + 1 : index + 2] == '"':
                    end = text.find('"', index + 2)
                    if end < 0:
                        raise UsageError(f"{what} {typed!r}: unterminated quoted value")
                    buffer, quoted, index = text[index + 2 : end], True, end
                elif text[index + 1 : index + 2] == "#":
                    raise UsageError(
                        f"{what} {typed!r}: hex-encoded (#...) values are not supported"
                    )
            elif char in ",+":
                raise UsageError(f"{what} {typed!r}: expected TYPE=value before {text[index:]!r}")
            else:
                buffer += char
        elif char == "\\":
            pair = text[index + 1 : index + 3]
            if len(pair) == 2 and all(c in _HEX for c in pair):
                raw = bytearray()
                while (
                    text[index : index + 1] == "\\"
                    and all(c in _HEX for c in text[index + 1 : index + 3])
                    and len(text[index + 1 : index + 3]) == 2
                ):
                    raw.append(int(text[index + 1 : index + 3], 16))
                    index += 3
                try:
                    buffer += raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise UsageError(f"{what} {typed!r}: \\HH escapes are not UTF-8") from None
                continue
            if not pair:
                raise UsageError(f"{what} {typed!r}: it ends with a backslash")
            buffer += pair[0]
            index += 2
            continue
        elif char in ",+;":
            finish()
            kind, buffer, quoted = None, "", False
            if char != "+":
                rdns.append([])
            while text[index + 1 : index + 2] == " ":
                index += 1
        elif not quoted:
            buffer += char
        index += 1
    finish()
    return rdns


def normalise_typed_dn(typed: str, what: str = "DN") -> tuple[str, bool]:
    """The DN as stored and compared (OpenSSL 3 slash form), and whether it was converted.

    Raises UsageError (exit 1) for something that is no DN, or that cannot be matched.
    """
    text = typed.strip()
    for prefix in ("subject=", "issuer="):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip()
    if not text:
        raise UsageError(f"{what} must not be empty")
    if text.startswith("/"):
        return _check_slash(text, what), text != typed
    if "=" not in text:
        raise UsageError(f"{what} {typed!r} is not a DN: write it as {_EXAMPLES}")
    openssl_order = re.match(r"[A-Za-z0-9.]+ = ", text) is not None
    rdns = _split_comma(text, what, typed)
    if not openssl_order:
        # RFC 4514 lists the most specific RDN first, and OpenSSL writes every entry reversed.
        rdns = [list(reversed(rdn)) for rdn in reversed(rdns)]
    parts = []
    for rdn in rdns:
        members = [
            f"{_label(kind, what, typed)}={_oneline_value(value, what, typed)}"
            for kind, value in rdn
        ]
        parts.append("/" + "+".join(members))
    return "".join(parts), True
