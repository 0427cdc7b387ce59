"""One settings object per command: options, environment, site configuration file, defaults.

:func:`command_settings` is built once, when the command line is parsed
(:func:`._common.parse_with_site_config`), and passed down: the command reads its environment
variables from :attr:`Settings.environ` (the process environment, with the file's
variable-backed keys below it), never from ``os.environ`` directly, and hands the library plain
values or that mapping (ADR 0024).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..site_config import ENV_ALTERNATIVES, KEYS, SiteConfig

__all__ = ["Settings", "command_settings", "settings_of"]

_BY_ENV = {key.env: key for key in KEYS if key.env}


@dataclass(frozen=True)
class Settings:
    """What a command reads from outside its options, resolved once."""

    #: The environment the command sees: the process's, over the site file's variables.
    environ: Mapping[str, str]
    #: The site configuration file (empty when there is none).
    site: SiteConfig = field(default_factory=SiteConfig)
    #: Variable → ``PATH:section.key`` for the variables the file set.
    sources: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """``$name`` as the command sees it (empty counts as unset)."""
        return self.environ.get(name) or None

    def db_file_mode(self) -> int:
        """The mode of a new SQLite file (``IMAGELIST_DB_FILE_MODE``: 0600 or 0640)."""
        from ..db.files import sqlite_file_mode  # lazily: SQLAlchemy is not needed for --help

        return sqlite_file_mode(self.environ)

    def igtf_https(self) -> bool:
        """Whether https servers may also chain to the IGTF CAs (``VMCATCHER_HTTPS_IGTF``)."""
        from ..https import igtf_https_enabled  # lazily: requests is not needed for --help

        return igtf_https_enabled(self.environ)

    def source(self, name: str) -> str:
        """Where ``$name`` came from, for messages: ``PATH:section.key`` or the variable."""
        return self.sources.get(name, name)


def command_settings(site: SiteConfig, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of one command: ``environ`` (default: the process's) over the file's
    variable-backed keys, a key applying only where neither its variable nor an alternative
    (``X509_CERT_DIR`` for the trust directory) is set."""
    process = dict(os.environ if environ is None else environ)
    layered = dict(process)
    sources: dict[str, str] = {}
    for name, value in site.as_environment().items():
        if not any(process.get(var) for var in (name, *ENV_ALTERNATIVES.get(name, ()))):
            layered[name] = value
            sources[name] = f"{site.path}:{_BY_ENV[name].dotted}"
    return Settings(environ=layered, site=site, sources=sources)


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings :func:`._common.parse_with_site_config` built for ``args``; for a namespace
    parsed otherwise (a test, a command without the site file): the process environment."""
    settings = getattr(args, "settings", None)
    return settings if isinstance(settings, Settings) else command_settings(SiteConfig())
