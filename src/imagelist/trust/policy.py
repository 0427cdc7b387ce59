"""IGTF namespace policies: ``*.namespaces`` (EACL) and ``*.signing_policy`` (Globus).

Both say which subject names a CA may sign. The old validator anchored the patterns at the start
only and left the dots of signing_policy globs unescaped (defect D5); here every pattern must match
the whole subject, and signing_policy globs escape everything but ``*``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

__all__ = ["NamespacePolicy", "parse_namespaces", "parse_signing_policy"]


@dataclass(frozen=True)
class NamespacePolicy:
    """What one CA (``ca_dn``, one-line form) may sign, as read from one policy file."""

    ca_dn: str
    source: str
    permit: tuple[re.Pattern[str], ...] = ()
    deny: tuple[re.Pattern[str], ...] = field(default=())

    def allows(self, subject: str) -> bool:
        """True when ``subject`` matches a PERMIT pattern and no DENY pattern, in full."""
        if any(pattern.fullmatch(subject) for pattern in self.deny):
            return False
        return any(pattern.fullmatch(subject) for pattern in self.permit)


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined and comments dropped."""
    joined = re.sub(r"\\\r?\n", " ", text)
    lines = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    return lines


def _compile(pattern: str, source: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{source}: invalid subject pattern {pattern!r}: {exc}") from None


def parse_namespaces(text: str, source: str = "<namespaces>") -> list[NamespacePolicy]:
    """Parse an EACL ``.namespaces`` file: ``TO Issuer "<CA DN>" PERMIT Subject "<regex>" ...``.

    ``TO Issuer SELF`` is not meaningful without the file's CA and is rejected; unknown
    statements raise ValueError so a broken policy file is noticed rather than ignored.
    """
    policies: list[NamespacePolicy] = []
    for line in _logical_lines(text):
        try:
            tokens = shlex.split(line, comments=True, posix=True)
        except ValueError as exc:
            raise ValueError(f"{source}: cannot tokenise {line!r}: {exc}") from None
        if not tokens:
            continue
        if len(tokens) < 3 or tokens[0].upper() != "TO" or tokens[1].lower() != "issuer":
            raise ValueError(f"{source}: expected 'TO Issuer \"<DN>\" ...', found {line!r}")
        ca_dn = tokens[2]
        permit: list[re.Pattern[str]] = []
        deny: list[re.Pattern[str]] = []
        rest = tokens[3:]
        while rest:
            if len(rest) < 3 or rest[1].lower() != "subject":
                raise ValueError(
                    f"{source}: expected 'PERMIT|DENY Subject \"<regex>\"' in {line!r}"
                )
            verb, pattern = rest[0].upper(), rest[2]
            if verb == "PERMIT":
                permit.append(_compile(pattern, source))
            elif verb == "DENY":
                deny.append(_compile(pattern, source))
            else:
                raise ValueError(f"{source}: unknown namespace verb {rest[0]!r}")
            rest = rest[3:]
        policies.append(NamespacePolicy(ca_dn, source, tuple(permit), tuple(deny)))
    return policies


def _glob_to_regex(glob: str, source: str) -> re.Pattern[str]:
    return _compile(".*".join(re.escape(piece) for piece in glob.split("*")), source)


def parse_signing_policy(text: str, source: str = "<signing_policy>") -> list[NamespacePolicy]:
    """Parse a Globus ``.signing_policy`` file.

    Each ``access_id_CA X509 '<CA DN>'`` starts a block; its ``cond_subjects globus
    '"<glob>" "<glob>"'`` lists the subjects it may sign, ``*`` being the only wildcard.
    """
    policies: list[NamespacePolicy] = []
    ca_dn: str | None = None
    for line in _logical_lines(text):
        try:
            tokens = shlex.split(line, posix=True)
        except ValueError as exc:
            raise ValueError(f"{source}: cannot tokenise {line!r}: {exc}") from None
        if not tokens:
            continue
        keyword = tokens[0]
        if keyword == "access_id_CA":
            if len(tokens) < 3:
                raise ValueError(f"{source}: access_id_CA needs a type and a DN: {line!r}")
            ca_dn = tokens[2]
        elif keyword == "cond_subjects":
            if ca_dn is None or len(tokens) < 3:
                raise ValueError(f"{source}: cond_subjects without a preceding access_id_CA")
            globs = shlex.split(tokens[2], posix=True)
            permit = tuple(_glob_to_regex(glob, source) for glob in globs)
            policies.append(NamespacePolicy(ca_dn, source, permit))
        elif keyword in ("pos_rights", "neg_rights", "cond_banned_subjects"):
            continue
        else:
            raise ValueError(f"{source}: unknown signing_policy keyword {keyword!r}")
    return policies
