"""The site configuration file: ``/etc/imagelist/vmcatcher.toml`` (docs/configuration.md, ADR 0016).

Precedence, for every setting: command-line option > environment variable > file > default.

Each file key stands either for the environment variable the commands already read (``[database]
url`` is ``VMCATCHER_RDBMS``) or for an option's default (``[cache] jobs`` is ``--jobs``). A command
loads the file once (:func:`apply_site_config`): an option-backed key becomes the option's
default; the variable-backed keys go into the command's settings
(:class:`imagelist.cli._settings.Settings`, ADR 0024), below the environment (a key applies only
where its variable is not set), never into ``os.environ``. The command reads its variables from
the settings and gives them to the event handlers it starts, so these see the same settings.

The loader is strict: bad TOML, an unknown section or key, or a value of the wrong type is one
line naming the file, the key and the expected type (ConfigurationError, exit 78). A missing
default file is no error; a missing file named by ``--config`` or ``$IMAGELIST_CONFIG`` is.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache.attempts import DEFAULT_MAX_TRIES
from .db.defaults import SUBSCRIBER_DATABASE_URL
from .errors import ConfigurationError
from .events.defaults import DEFAULT_HANDLER_TIMEOUT, DEFAULT_MAX_ATTEMPTS

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "KEYS",
    "Key",
    "SiteConfig",
    "apply_site_config",
    "config_path",
    "load_site_config",
    "restore_environment",
    "setting_source",
]

#: The file read when neither ``--config`` nor ``$IMAGELIST_CONFIG`` names one.
DEFAULT_CONFIG_PATH = "/etc/imagelist/vmcatcher.toml"
#: The environment variable naming the file.
CONFIG_ENV = "IMAGELIST_CONFIG"


@dataclass(frozen=True)
class Key:
    """One file key: its type, the variable or option it stands for, its default (as shown)."""

    section: str
    name: str
    kind: type
    env: str | None = None
    option: str | None = None
    dest: str | None = None
    default: str = "none"
    secret: bool = False

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def attribute(self) -> str:
        return f"{self.section}_{self.name}"


_CACHE_DIR = "VMCATCHER_CACHE_DIR_CACHE"
#: Every key the file may hold, in the order ``imagelist config`` prints them.
KEYS: tuple[Key, ...] = (
    Key("database", "url", str, env="VMCATCHER_RDBMS", option="-d",
        default=SUBSCRIBER_DATABASE_URL),
    Key("database", "file_mode", str, env="IMAGELIST_DB_FILE_MODE", default="0600"),
    Key(
        "trust",
        "directory",
        str,
        env="VMCATCHER_DIR_CERT",
        option="-c",
        default="$X509_CERT_DIR, else /etc/grid-security/certificates",
    ),
    Key("trust", "https_igtf", bool, env="VMCATCHER_HTTPS_IGTF", default="true"),
    Key("trust", "crl", str, option="--crl", dest="crl", default="require"),
    Key("trust", "min_rsa_bits", int, option="--min-rsa-bits", dest="min_rsa_bits", default="2048"),
    Key("cache", "directory", str, env=_CACHE_DIR, option="-C", default="cache"),
    Key("cache", "download_directory", str, env="VMCATCHER_CACHE_DIR_DOWNLOAD", option="-p",
        default="CACHE/partial"),
    Key("cache", "expire_directory", str, env="VMCATCHER_CACHE_DIR_EXPIRE", option="-e",
        default="CACHE/expired"),
    Key("cache", "event_command", str, env="VMCATCHER_CACHE_EVENT", option="-x"),
    Key("cache", "event_handlers", list, option="--event-handler", dest="event_handler",
        default="[]"),
    Key("cache", "jobs", int, option="--jobs", dest="jobs", default="one per image, at most 8"),
    Key("cache", "handler_timeout", float, option="--handler-timeout", dest="handler_timeout",
        default=f"{DEFAULT_HANDLER_TIMEOUT:g}"),
    Key("cache", "max_event_attempts", int, option="--max-event-attempts",
        dest="max_event_attempts", default=str(DEFAULT_MAX_ATTEMPTS)),
    Key("cache", "max_tries", int, option="--max-tries", dest="max_tries",
        default=str(DEFAULT_MAX_TRIES)),
    Key("cache", "connect_timeout", float, option="--connect-timeout", dest="connect_timeout",
        default="10"),
    Key("cache", "read_timeout", float, option="--read-timeout", dest="read_timeout",
        default="60"),
    Key("cache", "dir_mode", str, option="--dir-mode", dest="dir_mode", default="0750"),
    Key("cache", "file_mode", str, option="--file-mode", dest="file_mode", default="0640"),
    Key("cache", "allow_file_images", bool, option="--allow-file-images",
        dest="allow_file_images", default="false"),
    Key("subscriber", "event_command", str, env="VMCATCHER_SUB_EVENT", option="-x"),
    Key("subscriber", "output_format", str, env="VMCATCHER_OUTPUT_FORMAT", option="-f",
        default="lines"),
    Key("logging", "config", str, env="VMCATCHER_LOG_CONF", option="--log-config"),
    Key("monitoring", "metrics_textfile", str, env="IMAGELIST_METRICS_TEXTFILE",
        option="--metrics-textfile"),
    Key("monitoring", "warning_days", float, option="--warning-days", dest="warning_days",
        default="7"),
    Key("monitoring", "critical_days", float, option="--critical-days", dest="critical_days",
        default="1"),
    Key("oci", "credentials", str, env="IMAGELIST_OCI_CREDENTIALS"),
    Key("oci", "ca_bundle", str, env="IMAGELIST_OCI_CA_BUNDLE", default="the system CAs"),
    Key("oci", "plain_http", str, env="IMAGELIST_OCI_PLAIN_HTTP"),
)  # fmt: skip
_BY_DOTTED = {key.dotted: key for key in KEYS}
_SECTIONS = {key.section for key in KEYS}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list of strings"}  # fmt: skip


@dataclass(frozen=True)
class SiteConfig:
    """The content of the configuration file (None: the key is absent)."""

    path: str | None = None
    database_url: str | None = None
    database_file_mode: str | None = None
    trust_directory: str | None = None
    trust_https_igtf: bool | None = None
    trust_crl: str | None = None
    trust_min_rsa_bits: int | None = None
    cache_directory: str | None = None
    cache_download_directory: str | None = None
    cache_expire_directory: str | None = None
    cache_event_command: str | None = None
    cache_event_handlers: tuple[str, ...] | None = None
    cache_jobs: int | None = None
    cache_handler_timeout: float | None = None
    cache_max_event_attempts: int | None = None
    cache_max_tries: int | None = None
    cache_connect_timeout: float | None = None
    cache_read_timeout: float | None = None
    cache_dir_mode: str | None = None
    cache_file_mode: str | None = None
    cache_allow_file_images: bool | None = None
    subscriber_event_command: str | None = None
    subscriber_output_format: str | None = None
    logging_config: str | None = None
    monitoring_metrics_textfile: str | None = None
    monitoring_warning_days: float | None = None
    monitoring_critical_days: float | None = None
    oci_credentials: str | None = None
    oci_ca_bundle: str | None = None
    oci_plain_http: str | None = None
    #: ``[oci.sources.NAME]`` tables (imagelist.oci.source.RegistrySource), docs/oci.md
    oci_sources: tuple[Any, ...] = ()
    #: the dotted keys the file sets, in file order
    keys: tuple[str, ...] = field(default=())

    # The monitoring settings as the status command reads them (defaults None/7/1).
    @property
    def metrics_textfile(self) -> str | None:
        return self.monitoring_metrics_textfile

    @property
    def warning_days(self) -> float:
        return 7.0 if self.monitoring_warning_days is None else self.monitoring_warning_days

    @property
    def critical_days(self) -> float:
        return 1.0 if self.monitoring_critical_days is None else self.monitoring_critical_days

    def value(self, key: Key) -> Any:
        """The file's value of ``key`` (None when absent)."""
        return getattr(self, key.attribute)

    def as_environment(self) -> dict[str, str]:
        """The variable-backed keys the file sets, as the environment would spell them."""
        result: dict[str, str] = {}
        for key in KEYS:
            value = self.value(key)
            if key.env is not None and value is not None:
                result[key.env] = ("yes" if value else "no") if key.kind is bool else str(value)
        return result

    def option_defaults(self) -> dict[str, Any]:
        """The option-backed keys the file sets, as argparse defaults (by dest)."""
        result: dict[str, Any] = {}
        for key in KEYS:
            value = self.value(key)
            if key.dest is None or value is None:
                continue
            if key.dest in ("dir_mode", "file_mode"):
                value = int(value, 8)
            elif key.kind is list:
                value = list(value)
            result[key.dest] = value
        return result


def config_path(option: str | None, environ: Mapping[str, str]) -> tuple[str, bool]:
    """The file to read and whether it was named explicitly (then it must exist)."""
    if option:
        return option, True
    if environ.get(CONFIG_ENV):
        return environ[CONFIG_ENV], True
    return DEFAULT_CONFIG_PATH, False


def _fail(path: str, what: str) -> ConfigurationError:
    return ConfigurationError(f"configuration file {path}: {what}")


def _check(path: str, key: Key, value: Any) -> Any:
    """``value`` as ``key`` wants it, or ConfigurationError naming file, key and type."""
    wrong = _fail(path, f"{key.dotted} must be {_TYPE_NAMES[key.kind]}, not {value!r}")
    if key.kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        value = float(value)
    elif key.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
    elif key.kind is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise wrong
        return tuple(value)
    elif not isinstance(value, key.kind):
        raise wrong
    if key.name in ("dir_mode", "file_mode"):
        try:
            mode = int(value, 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o777:
            raise _fail(path, f'{key.dotted} must be an octal mode such as "0750", not {value!r}')
    if key.dotted == "database.file_mode" and value not in ("0600", "0640"):
        raise _fail(path, f'database.file_mode must be "0600" or "0640", not {value!r}')
    if key.dotted == "subscriber.output_format":
        from .subscriber.render import FORMATS  # only when the file sets it

        if value.lower() not in (name.lower() for name in FORMATS):
            raise _fail(path, f"{key.dotted} must be one of {', '.join(FORMATS)}, not {value!r}")
    if key.dotted == "trust.crl" and value not in ("require", "if-present"):
        raise _fail(path, f'trust.crl must be "require" or "if-present", not {value!r}')
    if key.kind in (int, float) and value < 0:
        raise _fail(path, f"{key.dotted} must not be negative, not {value!r}")
    return value


def parse_site_config(text: str, path: str) -> SiteConfig:
    """The SiteConfig of TOML ``text`` read from ``path`` (strict)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML: {' '.join(str(exc).split())}") from None
    values: dict[str, Any] = {}
    seen: list[str] = []
    for section, table in data.items():
        if section not in _SECTIONS:
            raise _fail(
                path, f"unknown section [{section}] (known: {', '.join(sorted(_SECTIONS))})"
            )
        if not isinstance(table, dict):
            raise _fail(path, f"{section} must be a table ([{section}])")
        for name, value in table.items():
            if (section, name) == ("oci", "sources"):  # registry sources: tables of their own
                from .oci.source import parse_sources

                values["oci_sources"] = parse_sources(path, value)
                seen.append("oci.sources")
                continue
            key = _BY_DOTTED.get(f"{section}.{name}")
            if key is None:
                raise _fail(path, f"unknown key {section}.{name}")
            values[key.attribute] = _check(path, key, value)
            seen.append(key.dotted)
    return SiteConfig(path=path, keys=tuple(seen), **values)


def load_site_config(
    option: str | None = None, environ: Mapping[str, str] | None = None
) -> SiteConfig:
    """The file named by ``option``, else ``$IMAGELIST_CONFIG``, else the default (if present)."""
    env = os.environ if environ is None else environ
    path, explicit = config_path(option, env)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        if explicit:
            raise _fail(path, "does not exist") from None
        return SiteConfig()
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text") from None
    return parse_site_config(text, path)


_applied: list[tuple[str, str | None]] = []
_from_file: dict[str, str] = {}
_BY_ENV = {key.env: key for key in KEYS if key.env}
#: Variables that also set a key's value (before the file): the trust directory's X509_CERT_DIR.
ENV_ALTERNATIVES = {"VMCATCHER_DIR_CERT": ("X509_CERT_DIR",)}
_LIST_DESTS = tuple(key.dest for key in KEYS if key.kind is list and key.dest)


def apply_site_config(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[argparse.Namespace, SiteConfig]:
    """Parse ``argv`` with the file's settings below the options and the environment.

    The file is named by ``--config`` (read before the other options), ``$IMAGELIST_CONFIG`` or
    the default path. Its option-backed keys become the parser's defaults; its variable-backed
    keys are not put into ``os.environ``: the command's settings layer them below the
    environment (:func:`imagelist.cli._settings.command_settings`).
    """
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(list(argv))
    config = load_site_config(known.config)
    dests = {action.dest for action in parser._actions}
    defaults = config.option_defaults()
    lists = {dest: defaults.pop(dest) for dest in _LIST_DESTS if dest in defaults}
    parser.set_defaults(**{dest: value for dest, value in defaults.items() if dest in dests})
    args = parser.parse_args(argv)
    for dest, value in lists.items():  # a repeatable option replaces the file's list
        if dest in dests and not getattr(args, dest):
            setattr(args, dest, value)
    for name in config.as_environment():
        if not any(os.environ.get(var) for var in (name, *ENV_ALTERNATIVES.get(name, ()))):
            _from_file[name] = f"{config.path}:{_BY_ENV[name].dotted}"
    args.site_config = config
    return args, config


def restore_environment() -> None:
    """Forget where the file's variables came from (a command run in-process, in tests).

    The file's variables are no longer put into ``os.environ``: a command reads them from its
    settings (:class:`imagelist.cli._settings.Settings`, ADR 0024), which also give them to
    the event handlers it starts.
    """
    _from_file.clear()
    _applied.clear()


def setting_source(variable: str) -> str:
    """Where ``$variable`` came from, for messages: ``PATH:section.key`` or the variable."""
    return _from_file.get(variable, variable)
