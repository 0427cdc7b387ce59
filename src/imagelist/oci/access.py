"""How we reach registries: credentials from a file, a CA bundle, the hosts allowed plain http.

The credentials file is TOML, one table per registry (``HOST`` or ``HOST:PORT``)::

    ["registry.egi.eu"]
    username = "robot$site"
    password = "..."

It is read, never written (nothing goes to ``~/.docker``), and it must be a regular file that
group and others cannot access. A registry is spoken to over https, verified with ``ca_bundle``
if one is given (else the system CAs); plain http only for the hosts named in ``plain_http``,
and never with credentials.

The cache reads the settings from the environment (the site file's ``[oci]`` keys set it):
``IMAGELIST_OCI_CREDENTIALS``, ``IMAGELIST_OCI_CA_BUNDLE`` and ``IMAGELIST_OCI_PLAIN_HTTP``
(comma-separated ``HOST:PORT``).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigurationError, OciAuthError

__all__ = [
    "CA_BUNDLE_ENV",
    "CREDENTIALS_ENV",
    "PLAIN_HTTP_ENV",
    "Credentials",
    "RegistryAccess",
    "read_credentials",
]

CREDENTIALS_ENV = "IMAGELIST_OCI_CREDENTIALS"
CA_BUNDLE_ENV = "IMAGELIST_OCI_CA_BUNDLE"
PLAIN_HTTP_ENV = "IMAGELIST_OCI_PLAIN_HTTP"
_MAX_FILE = 64 * 1024


@dataclass(frozen=True)
class Credentials:
    """A user name and password for one registry (the password is never shown)."""

    username: str
    password: str = field(repr=False)


def read_credentials(path: Path) -> dict[str, Credentials]:
    """The credentials file's tables by registry; OciAuthError (exit 57) if it is unusable."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        raise OciAuthError(f"cannot read OCI credentials file {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OciAuthError(f"OCI credentials file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise OciAuthError(
                f"permissions {stat.S_IMODE(info.st_mode):04o} of OCI credentials file {path} "
                f"are too open: group and others must have no access (chmod 600 {path})"
            )
        data = handle.read(_MAX_FILE + 1)
    if len(data) > _MAX_FILE:
        raise OciAuthError(f"OCI credentials file {path} is larger than {_MAX_FILE} bytes")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        where = f" ({exc.args[0]})" if isinstance(exc, tomllib.TOMLDecodeError) else ""
        raise OciAuthError(f"OCI credentials file {path} is not valid TOML{where}") from None
    result: dict[str, Credentials] = {}
    for host, table in document.items():
        if not isinstance(table, dict) or set(table) != {"username", "password"}:
            raise OciAuthError(
                f"OCI credentials file {path}: [{host!r}] must hold exactly username and password"
            )
        username, password = table["username"], table["password"]
        if not isinstance(username, str) or not isinstance(password, str) or ":" in username:
            raise OciAuthError(
                f"OCI credentials file {path}: [{host!r}] username and password must be strings "
                "(no ':' in the username)"
            )
        result[host.lower()] = Credentials(username, password)
    return result


@dataclass(frozen=True)
class RegistryAccess:
    """Credentials, CA bundle and plain-http hosts for the registries of one run or source."""

    credentials_file: Path | None = None
    ca_bundle: Path | None = None
    plain_http: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> RegistryAccess:
        credentials = environ.get(CREDENTIALS_ENV) or None
        ca_bundle = environ.get(CA_BUNDLE_ENV) or None
        plain = environ.get(PLAIN_HTTP_ENV, "")
        return cls(
            Path(credentials) if credentials else None,
            Path(ca_bundle) if ca_bundle else None,
            frozenset(host.strip().lower() for host in plain.split(",") if host.strip()),
        )

    def scheme(self, registry: str) -> str:
        return "http" if registry.lower() in self.plain_http else "https"

    def verify(self) -> str | bool:
        """What requests' ``verify`` gets: the CA bundle, else the default store."""
        if self.ca_bundle is None:
            return True
        if not self.ca_bundle.is_file():
            raise ConfigurationError(f"OCI CA bundle {self.ca_bundle} is not a readable file")
        return str(self.ca_bundle)

    def credentials_for(self, registry: str) -> Credentials | None:
        if self.credentials_file is None:
            return None
        return read_credentials(self.credentials_file).get(registry.lower())
