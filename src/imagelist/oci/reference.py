"""OCI references: ``oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]``.

The grammar is the distribution specification's (lower-case path components separated by ``/``,
tags of at most 128 word characters, dots and dashes) with two restrictions of ours: the only
digest algorithm is sha256 (what registries compute), and the registry host is always written
out (no Docker Hub default, no ``library/`` prefix). Nothing else may appear: no user, no
query, no fragment. The bare form ``HOST/REPOSITORY:TAG`` is accepted where a person types a
reference (``imagelist oci``, vmcaster); image lists carry the ``oci://`` form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import OciReferenceError

__all__ = ["SCHEME", "Reference", "is_oci_uri", "parse_reference"]

SCHEME = "oci://"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])"
_PORT = r"(?::[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
_PATTERN = re.compile(
    rf"(?P<registry>{_HOST}{_PORT})/(?P<repository>{_REPOSITORY})"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_MAX_LENGTH = 512


def is_oci_uri(uri: str) -> bool:
    """Whether ``uri`` names an OCI artifact (``oci://``, any case)."""
    return uri[: len(SCHEME)].lower() == SCHEME


@dataclass(frozen=True)
class Reference:
    """A parsed reference; ``digest`` is ``sha256:<hex>`` or None."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    @property
    def target(self) -> str:
        """What the manifest endpoint is asked for: the digest if known, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> Reference:
        """The same artifact pinned to ``digest`` (the tag is dropped: it proves nothing)."""
        return replace(self, tag=None, digest=digest)

    def uri(self) -> str:
        """The ``oci://`` form."""
        text = f"{SCHEME}{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def __str__(self) -> str:
        return self.uri()


def parse_reference(text: str, *, require_digest: bool = False, bare: bool = False) -> Reference:
    """Parse ``text``; OciReferenceError (exit 56) names what is wrong.

    ``bare`` also accepts the form without ``oci://``; ``require_digest`` refuses a reference
    that is not pinned by a sha256 digest.
    """
    shown = text[:80] + ("..." if len(text) > 80 else "")
    if len(text) > _MAX_LENGTH:
        raise OciReferenceError(f"OCI reference {shown!r} is longer than {_MAX_LENGTH} characters")
    body = text
    if is_oci_uri(text):
        body = text[len(SCHEME) :]
    elif not bare:
        raise OciReferenceError(f"{shown!r} is not an oci:// reference")
    match = _PATTERN.fullmatch(body)
    if match is None:
        raise OciReferenceError(
            f"malformed OCI reference {shown!r} "
            "(expected oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:HEX])"
        )
    registry = match["registry"]
    port = registry.rpartition("]")[2].partition(":")[2]
    if port and not 0 < int(port) < 65536:
        raise OciReferenceError(f"OCI reference {shown!r}: port {port} out of range")
    if len(match["repository"]) > 255:
        raise OciReferenceError(f"OCI reference {shown!r}: repository name too long")
    reference = Reference(registry.lower(), match["repository"], match["tag"], match["digest"])
    if require_digest and not reference.pinned:
        raise OciReferenceError(
            f"OCI reference {shown!r} is not pinned by digest (@sha256:...); a tag proves nothing"
        )
    return reference
