"""The MIME side of an S/MIME message: where the CMS signature and the signed content are.

``multipart/signed`` (clear-signed, detached: the old tools' layout, reference §1.4) or
``application/pkcs7-mime`` (opaque). Bytes in, bytes out: the CMS structure itself is checked
by :mod:`imagelist.smime`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from .errors import MimeFormatError

__all__ = ["canonical_part", "cms_blob"]

_SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
_OPAQUE_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_EOL = re.compile(rb"\r*\n")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def cms_blob(message: bytes) -> tuple[bytes, bytes | None]:
    """The DER CMS of an S/MIME message and its detached content (None when opaque)."""
    # The message is about a megabyte: it is searched in place and only the signed content is
    # copied out, once (a copy of a fresh megabyte costs about as much as hashing it).
    if not message or message.isspace():  # as `not message.strip()`, without the copy
        raise MimeFormatError("signed message is empty")
    header_end, body_start = _header_end(message)
    headers = _parse_headers(message[:header_end])
    content_type = headers.get_content_type()
    if content_type == "multipart/signed":
        boundary = headers.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            raise MimeFormatError("multipart/signed message has no boundary parameter")
        content, signature_part = _split_multipart(message, boundary, body_start)
        return _signature_blob(signature_part), content
    if content_type in _OPAQUE_TYPES:
        encoding = str(headers.get("Content-Transfer-Encoding", "base64")).strip().lower()
        return _decode_body(message[body_start:], encoding), None
    if not headers.keys():
        raise MimeFormatError("not an S/MIME message: no MIME headers (is the list unsigned?)")
    raise MimeFormatError(
        f"not an S/MIME signed message: Content-Type is {content_type!r}, "
        "expected multipart/signed or application/pkcs7-mime"
    )


def _header_end(data: bytes) -> tuple[int, int]:
    """Where the MIME headers end and where the body starts (after the blank line)."""
    match = _BLANK_LINE.search(data)
    if match is None:
        raise MimeFormatError("not an S/MIME message: no blank line after the MIME headers")
    return match.start(), match.end()


def _split_headers(data: bytes) -> tuple[bytes, bytes]:
    header_end, body_start = _header_end(data)
    return data[:header_end], data[body_start:]


def _parse_headers(block: bytes) -> Any:
    if not re.match(rb"[!-9;-~]+:", block):
        return BytesHeaderParser(policy=compat32).parsebytes(b"\n\n")
    return BytesHeaderParser(policy=compat32).parsebytes(block + b"\n\n")


def _delimiter_lines(body: bytes, delimiter: bytes, start: int = 0) -> list[tuple[int, bool]]:
    """Offsets of the lines from ``start`` on that start with the delimiter, and whether each is
    the closing one."""
    found: list[tuple[int, bool]] = []
    position = body.find(delimiter, start)
    while position != -1:
        if position == start or body[position - 1] == 0x0A:
            closing = body.startswith(b"--", position + len(delimiter))
            found.append((position, closing))
            if closing:
                break
        position = body.find(delimiter, position + len(delimiter))
    return found


def _split_multipart(body: bytes, boundary: str, start: int = 0) -> tuple[bytes, bytes]:
    """The two parts of a multipart/signed body (``body[start:]``), each without the line end
    before its delimiter.

    The first part is returned as it is in the file; :func:`canonical_part` gives the form
    OpenSSL's multi_split would hash, for when the bytes as they are do not match.
    """
    lines = _delimiter_lines(body, b"--" + boundary.encode("ascii", "replace"), start)
    if not lines or not lines[-1][1]:
        raise MimeFormatError("multipart/signed message is truncated: no closing boundary")
    if len(lines) != 3:
        raise MimeFormatError(f"multipart/signed message has {len(lines) - 1} parts, expected 2")
    parts = []
    for (begin, _), (end, _) in itertools.pairwise(lines):
        line_end = body.find(b"\n", begin, end)
        if line_end == -1:
            parts.append(b"")
            continue
        # As part.removesuffix(b"\n").rstrip(b"\r"), slicing only once: one LF and one CR are
        # cut before the copy; rstrip copies again only for a second CR (never in a real list).
        first, stop = line_end + 1, end
        if stop > first and body[stop - 1] == 0x0A:
            stop -= 1
        if stop > first and body[stop - 1] == 0x0D:
            stop -= 1
        parts.append(body[first:stop].rstrip(b"\r"))
    return parts[0], parts[1]


def canonical_part(part: bytes) -> bytes:
    """As OpenSSL's multi_split joins a part's lines: each line end (and CRs before it) as CRLF."""
    return _EOL.sub(b"\r\n", part)


def _signature_blob(part: bytes) -> bytes:
    header_block, body = _split_headers(part + b"\n")
    headers = _parse_headers(header_block)
    content_type = headers.get_content_type()
    if content_type not in _SIGNATURE_TYPES:
        raise MimeFormatError(
            f"second part of multipart/signed is {content_type!r}, expected a pkcs7-signature"
        )
    encoding = str(headers.get("Content-Transfer-Encoding", "base64")).strip().lower()
    return _decode_body(body, encoding)


def _decode_body(body: bytes, encoding: str) -> bytes:
    if encoding != "base64":
        raise MimeFormatError(f"unsupported Content-Transfer-Encoding {encoding!r} for PKCS#7")
    compact = re.sub(rb"\s+", b"", body)
    if not compact:
        raise MimeFormatError("signature part is empty")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MimeFormatError(f"signature part is not valid base64: {exc}") from None
