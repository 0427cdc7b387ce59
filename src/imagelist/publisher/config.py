"""``vmcaster.cfg``: which server receives uploads for which URIs, and how (reference §3.3).

An INI file whose values are JSON. Each section describes one server::

    [www]
    server = "www.example.org"
    protocol = "scp"
    uriMatch = "https://www.example.org/"
    uriReplace = "publisher@www.example.org:/var/www/html/"

Sections are found by ``server`` (the host name of the URI being uploaded), not by their name.
The file is read only by the upload actions, and it is validated strictly: a missing key, a
value that is not JSON, an unknown protocol or a bad regular expression is a one-line error
naming the file, the section and the key.
"""

from __future__ import annotations

import configparser
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PublishConfigError, UploadHostNotRegisteredError, UploadPathError

__all__ = [
    "PROTOCOLS",
    "SYSTEM_CONFIG",
    "PublisherConfig",
    "ServerSection",
    "config_candidates",
    "load_config",
]

logger = logging.getLogger(__name__)

#: The fallback when neither -C, $VMCASTER_CFG nor ~/.vmcaster.cfg names an existing file.
SYSTEM_CONFIG = Path("/etc/vmcaster/vmcaster.cfg")
#: Transfer protocols this vmcaster can use.
PROTOCOLS = ("local", "scp", "gsidcap", "command", "marketplace")
_REQUIRED = ("server", "protocol", "uriMatch", "uriReplace")
# Optional keys per protocol (configparser lower-cases key names; these are the spellings shown).
_OPTIONAL: dict[str, tuple[str, ...]] = {
    "local": ("openpgpKey",),
    "scp": ("openpgpKey",),
    "gsidcap": ("pdcapPreload", "openpgpKey"),
    "command": ("command", "renameCommand", "openpgpKey"),
    "marketplace": ("token_file", "ca_file"),
}
_DEFAULT_PDCAP_PRELOAD = "/usr/lib64/libpdcap.so.1"
# Percent-encoded dot, slash and backslash: a transfer program or server might decode them.
_ENCODED_SEPARATOR = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def _confine(root: str, target: str, uri: str, where: str) -> str:
    """``target`` with its part below ``root`` normalised; UploadPathError if it leaves root.

    ``root`` is the literal start of uriReplace. The normalised part has no empty, ``.`` or
    ``..`` segment; a ``..`` that would climb above ``root`` is refused. A target that is
    uriReplace itself (a degenerate uriMatch, warned about) is left as it is.
    """
    if target == root:
        return target
    cut = max(root.rfind("/"), root.rfind(":")) + 1
    base, rest = target[:cut], target[cut:]
    if _ENCODED_SEPARATOR.search(rest):
        raise UploadPathError(f"{where}: {uri} has a percent-encoded '.', '/' or '\\'")
    segments: list[str] = []
    for segment in rest.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                raise UploadPathError(f"{where}: {uri} leads outside {root}")
            segments.pop()
            continue
        segments.append(segment)
    confined = base + "/".join(segments)
    if not segments or not confined.startswith(root):
        raise UploadPathError(f"{where}: {uri} does not name a file under {root}")
    return confined


@dataclass(frozen=True)
class ServerSection:
    """One validated section of vmcaster.cfg."""

    name: str
    server: str
    protocol: str
    uri_match: re.Pattern[str]
    uri_replace: str
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def root(self) -> str:
        """The literal start of uriReplace (up to a group reference): no upload leaves it."""
        return self.uri_replace.split("\\", 1)[0]

    def remote_path(self, uri: str) -> str:
        """Map a public URI to the upload target: ``re.sub(uriMatch, uriReplace, uri)``.

        As vmcaster, the substitution is applied only when ``uriMatch`` matches at the start of
        the URI; unlike vmcaster (which then uploaded to the URI itself), a URI that does not
        match is an error (exit 99). Unlike vmcaster, ``.`` and ``..`` segments are resolved
        and the target must stay under :attr:`root` (else exit 99), so ``hv:uri`` cannot write
        outside the served directory.
        """
        if self.uri_match.match(uri) is None:
            raise UploadHostNotRegisteredError(
                f"uriMatch {self.uri_match.pattern!r} of section [{self.name}] in {self.source} "
                f"does not match {uri}"
            )
        try:
            target = self.uri_match.sub(self.uri_replace, uri)
        except (re.error, IndexError) as exc:
            raise PublishConfigError(
                f"{self.source}: section [{self.name}] key uriReplace: {exc}"
            ) from None
        if target == self.uri_replace:
            logger.warning(
                "uriMatch of section [%s] maps %s to uriReplace itself: check the section",
                self.name,
                uri,
            )
        return _confine(self.root, target, uri, f"section [{self.name}] in {self.source}")


@dataclass(frozen=True)
class PublisherConfig:
    """All sections of one vmcaster.cfg, indexed by lower-case server host name."""

    path: Path
    sections: Mapping[str, ServerSection]

    def section_for(self, host: str | None) -> ServerSection:
        """The section whose ``server`` is ``host`` (case-insensitive); exit 99 if none."""
        section = self.sections.get((host or "").lower())
        if section is None:
            known = ", ".join(sorted(self.sections)) or "none"
            raise UploadHostNotRegisteredError(
                f"host {host or '<none>'!r} is not registered in {self.path} (servers: {known})"
            )
        return section


def config_candidates(option: str | None, environ: Mapping[str, str]) -> list[Path]:
    """The files tried, in order: -C, else $VMCASTER_CFG, else ~/.vmcaster.cfg and /etc."""
    env = environ
    explicit = option or env.get("VMCASTER_CFG")
    if explicit:
        return [Path(explicit).expanduser()]
    candidates = []
    home = env.get("HOME")
    if home:
        candidates.append(Path(home) / ".vmcaster.cfg")
    candidates.append(SYSTEM_CONFIG)
    return candidates


def load_config(option: str | None, environ: Mapping[str, str]) -> PublisherConfig:
    """Find, read and validate vmcaster.cfg (see :func:`config_candidates`)."""
    candidates = config_candidates(option, environ)
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        tried = ", ".join(str(candidate) for candidate in candidates)
        raise PublishConfigError(
            f"no vmcaster configuration file (tried {tried}); uploads need one: "
            "give -C FILE or set VMCASTER_CFG"
        )
    return parse_config(path)


def parse_config(path: Path) -> PublisherConfig:
    """Read and validate one vmcaster.cfg."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as stream:
            parser.read_file(stream)
    except OSError as exc:
        raise PublishConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise PublishConfigError(f"{path} is not a valid INI file: {_one_line(exc)}") from None
    sections: dict[str, ServerSection] = {}
    for name in parser.sections():
        section = _section(path, name, parser[name])
        host = section.server.lower()
        if host in sections:
            raise PublishConfigError(
                f"{path}: sections [{sections[host].name}] and [{name}] both "
                f"have server {section.server!r}"
            )
        sections[host] = section
    if not sections:
        raise PublishConfigError(f"{path} has no server section")
    return PublisherConfig(path, sections)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _value(path: Path, name: str, raw: Mapping[str, str], key: str) -> Any:
    text = raw.get(key.lower())
    if text is None:
        raise PublishConfigError(f"{path}: section [{name}] has no key {key}")
    try:
        return json.loads(text)
    except ValueError:
        raise PublishConfigError(
            f"{path}: section [{name}] key {key} is not JSON (write strings in quotes): {text!r}"
        ) from None


def _string(path: Path, name: str, raw: Mapping[str, str], key: str) -> str:
    value = _value(path, name, raw, key)
    if not isinstance(value, str) or not value:
        raise PublishConfigError(f"{path}: section [{name}] key {key} must be a non-empty string")
    return value


def _argv_template(path: Path, name: str, raw: Mapping[str, str], key: str) -> tuple[str, ...]:
    value = _value(path, name, raw, key)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise PublishConfigError(
            f"{path}: section [{name}] key {key} must be a JSON list of strings "
            '(an argument vector such as ["rsync", "{src}", "{dest}"])'
        )
    joined = " ".join(value)
    if "{src}" not in joined or "{dest}" not in joined:
        raise PublishConfigError(
            f"{path}: section [{name}] key {key} must use both {{src}} and {{dest}}"
        )
    return tuple(value)


def _section(path: Path, name: str, raw: Mapping[str, str]) -> ServerSection:
    server = _string(path, name, raw, "server")
    protocol = _string(path, name, raw, "protocol")
    if protocol not in PROTOCOLS:
        hint = " (egiappdb is not supported by this vmcaster)" if protocol == "egiappdb" else ""
        raise PublishConfigError(
            f"{path}: section [{name}] key protocol: unknown protocol {protocol!r}{hint}; "
            f"use one of {', '.join(PROTOCOLS)}"
        )
    match_text = _string(path, name, raw, "uriMatch")
    try:
        uri_match = re.compile(match_text)
    except re.error as exc:
        raise PublishConfigError(
            f"{path}: section [{name}] key uriMatch is not a valid regular expression: {exc}"
        ) from None
    uri_replace = _string(path, name, raw, "uriReplace")
    allowed = {key.lower() for key in (*_REQUIRED, *_OPTIONAL[protocol])}
    unknown = sorted(key for key in raw if key not in allowed)
    if unknown:
        raise PublishConfigError(
            f"{path}: section [{name}] has unknown key(s) for protocol {protocol}: "
            f"{', '.join(unknown)}"
        )
    options: dict[str, Any] = {}
    if "openpgpkey" in raw:  # the OpenPGP secret key for .json.asc (ADR 21)
        options["openpgpKey"] = _string(path, name, raw, "openpgpKey")
    if protocol == "command":
        options["command"] = _argv_template(path, name, raw, "command")
        if "renamecommand" in raw:
            options["renameCommand"] = _argv_template(path, name, raw, "renameCommand")
    elif protocol == "gsidcap":
        options["pdcapPreload"] = (
            _value(path, name, raw, "pdcapPreload")
            if "pdcappreload" in raw
            else _DEFAULT_PDCAP_PRELOAD
        )
        if not isinstance(options["pdcapPreload"], str):
            raise PublishConfigError(f"{path}: section [{name}] key pdcapPreload must be a string")
    elif protocol == "marketplace":
        options["token_file"] = _string(path, name, raw, "token_file")
        if "ca_file" in raw:
            options["ca_file"] = _string(path, name, raw, "ca_file")
    return ServerSection(
        name=name,
        server=server,
        protocol=protocol,
        uri_match=uri_match,
        uri_replace=uri_replace,
        options=options,
        source=str(path),
    )
