"""The marketplace's settings: one immutable object every part of the service reads.

:meth:`MarketSettings.embedded` is the no-set-up default: a SQLite file and a data directory
under one directory. :meth:`MarketSettings.from_env` reads ``IMAGELIST_MARKET_*`` variables
over that default (a deployment: PostgreSQL, the service certificate, the proxy addresses).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MarketSettingsError
from ..oci.access import RegistryAccess

__all__ = ["DEFAULT_MARGIN_DAYS", "ENV_PREFIX", "SHARED_FIELDS", "MarketSettings"]

#: Environment variables read by :meth:`MarketSettings.from_env`: ``IMAGELIST_MARKET_<FIELD>``.
ENV_PREFIX = "IMAGELIST_MARKET_"
#: Fields :meth:`MarketSettings.from_env` reads from the variables the other commands share,
#: not from ``IMAGELIST_MARKET_<FIELD>``.
SHARED_FIELDS = frozenset({"registry_access", "https_igtf", "db_file_mode"})
GIB = 1024**3
#: Re-sign a VO list when it expires within this many days (``resign --margin-days``).
DEFAULT_MARGIN_DAYS = 7


@dataclass(frozen=True)
class MarketSettings:
    """Everything the market service needs to know; see ADR 0019 and the README."""

    #: SQLAlchemy URL of the market database (SQLite file or PostgreSQL).
    database_url: str
    #: Directory for the published store (``store/``) and other files the service writes.
    data_dir: Path
    #: Directory of trusted CA certificates (and CRLs) for verifying imported signed lists.
    ca_dir: Path | None = None
    #: The service certificate, key and chain that sign published lists.
    signer_cert: Path | None = None
    signer_key: Path | None = None
    signer_chain: Path | None = None
    #: The OpenPGP secret key (armored, unencrypted, mode 0600) that signs ``image.list.json``
    #: of every publication; its certificate is served at ``/keys/`` (ADR 0021).
    openpgp_key: Path | None = None
    #: Base URL the market is reached at (``hv:uri`` of published lists), no trailing slash.
    public_base_url: str = "http://127.0.0.1:8080"
    #: Reverse proxies (IP addresses or networks) whose X-SSL-Client-* headers are trusted.
    trusted_proxies: tuple[str, ...] = ()
    #: The longest expiry an appliance version may have, in months.
    max_expiry_months: int = 12
    #: Images checked at once by the integrity job runner.
    integrity_concurrency: int = 2
    #: Largest image the integrity check reads (bytes).
    integrity_max_size: int = 64 * GIB
    #: Connect/read timeout and stall limit (seconds without a byte) of an integrity download.
    integrity_timeout: float = 30.0
    integrity_stall_seconds: float = 60.0
    #: Largest request body the API accepts (bytes).
    max_body_bytes: int = 4 * 1024 * 1024
    #: Lifetime of a published VO list (re-signed before it ends).
    vo_list_expiry_days: int = 30
    #: Longest lifetime of an API token (days).
    token_max_days: int = 366
    #: ``dc:creator`` of published lists.
    service_name: str = "imagelist market"
    #: A running integrity job whose worker has not reported for this long is abandoned.
    integrity_lease_seconds: float = 60.0
    #: Credentials, CA bundle and plain-http hosts of the registries of ``oci://`` images
    #: (:meth:`from_env`: the shared ``IMAGELIST_OCI_*`` variables).
    registry_access: RegistryAccess = field(default_factory=RegistryAccess)
    #: Whether the CA directory's CAs also verify https downloads (:meth:`from_env`:
    #: ``VMCATCHER_HTTPS_IGTF``).
    https_igtf: bool = True
    #: Mode of a new SQLite database file (:meth:`from_env`: ``IMAGELIST_DB_FILE_MODE``).
    db_file_mode: int = 0o600
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        networks = []
        for entry in self.trusted_proxies:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise MarketSettingsError(
                    f"trusted proxy {entry!r} is not an IP address or network"
                ) from None
        object.__setattr__(self, "_networks", tuple(networks))
        for name in (
            "max_expiry_months",
            "integrity_concurrency",
            "integrity_max_size",
            "max_body_bytes",
            "vo_list_expiry_days",
            "token_max_days",
        ):
            if getattr(self, name) < 1:
                raise MarketSettingsError(f"{name} must be at least 1, not {getattr(self, name)}")
        if (
            min(self.integrity_timeout, self.integrity_stall_seconds, self.integrity_lease_seconds)
            <= 0
        ):
            raise MarketSettingsError("integrity timeouts must be positive")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise MarketSettingsError(
                f"public base URL {self.public_base_url!r} must start with http:// or https://"
            )
        object.__setattr__(self, "public_base_url", self.public_base_url.rstrip("/"))

    @property
    def store_dir(self) -> Path:
        """Where published lists are written (served as ``/store``)."""
        return self.data_dir / "store"

    def is_trusted_proxy(self, address: str | None) -> bool:
        """Whether ``address`` (a TCP peer) is one of the trusted reverse proxies."""
        if not address or not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    @classmethod
    def embedded(cls, base_dir: Path, **overrides: object) -> MarketSettings:
        """The no-set-up default: ``base_dir/market.db`` (SQLite) and ``base_dir/data``."""
        base = base_dir.resolve()
        values: dict[str, object] = {
            "database_url": f"sqlite:///{base / 'market.db'}",
            "data_dir": base / "data",
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, base_dir: Path, environ: Mapping[str, str], **overrides: object
    ) -> MarketSettings:
        """:meth:`embedded` under ``base_dir``, then ``IMAGELIST_MARKET_*`` (and the shared
        variables of :data:`SHARED_FIELDS`) of ``environ``, then ``overrides``."""
        from ..db.files import sqlite_file_mode  # lazily: SQLAlchemy, requests
        from ..https import igtf_https_enabled

        env = environ
        values: dict[str, object] = {
            "registry_access": RegistryAccess.from_environment(env),
            "https_igtf": igtf_https_enabled(env),
            "db_file_mode": sqlite_file_mode(env),
        }
        for spec in dataclasses.fields(cls):
            if not spec.init or spec.name in SHARED_FIELDS:
                continue
            raw = env.get(ENV_PREFIX + spec.name.upper())
            if raw is None or raw == "":
                continue
            values[spec.name] = _convert(spec.name, str(spec.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.embedded(base_dir, **values)

    def ensure_dirs(self) -> None:
        """Create the data and store directories (private to the service's user)."""
        try:
            self.data_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
            self.store_dir.mkdir(mode=0o755, exist_ok=True)
        except OSError as exc:
            raise MarketSettingsError(
                f"cannot create data directory {self.data_dir}: {exc.strerror}"
            ) from None


def _convert(name: str, kind: str, raw: str) -> object:
    variable = ENV_PREFIX + name.upper()
    try:
        if "tuple" in kind:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if "Path" in kind:
            return Path(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
    except ValueError:
        raise MarketSettingsError(f"{variable}={raw!r} is not a valid {kind}") from None
    return raw
