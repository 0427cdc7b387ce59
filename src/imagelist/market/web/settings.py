"""Settings of the marketplace's web pages, logins and mail (``IMAGELIST_MARKET_*``, ADR 0025).

They sit beside :class:`imagelist.market.MarketSettings` and are read from the same variables'
namespace: ``IMAGELIST_MARKET_SESSION_KEY_FILE``, ``IMAGELIST_MARKET_OIDC_*`` and
``IMAGELIST_MARKET_SMTP_*``.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import MarketSettingsError
from ...fileio import link_new, open_regular
from ..settings import ENV_PREFIX

__all__ = ["WebSettings", "load_secret"]

SESSION_KEY_FILE = "web-session.key"


@dataclass(frozen=True)
class WebSettings:
    """What the web layer needs besides the market's own settings."""

    #: File holding the secret that signs session cookies (made, mode 0600, if missing).
    session_key_file: Path
    #: Seconds a login lasts.
    session_max_age: int = 12 * 3600
    #: A valid certificate or OIDC login that matches no person creates one (else refused).
    register_on_login: bool = True
    #: OIDC (EGI Check-in style): the issuer URL; empty turns OIDC login off.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret_file: Path | None = None
    oidc_scope: str = "openid profile email"
    #: The button text on the login page.
    oidc_label: str = "EGI Check-in"
    #: SMTP for notifications.
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password_file: Path | None = None
    smtp_from: str = "imagelist-market@localhost"
    smtp_timeout: float = 30.0
    #: Days before a version expires when its owners are first told.
    notify_days_before: int = 5

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @classmethod
    def from_env(
        cls, data_dir: Path, environ: Mapping[str, str], **overrides: object
    ) -> WebSettings:
        """Defaults (session key in ``data_dir``), then ``IMAGELIST_MARKET_*`` of ``environ``,
        then overrides."""
        env = environ
        values: dict[str, object] = {"session_key_file": data_dir / SESSION_KEY_FILE}
        conversions: dict[str, type] = {
            "session_key_file": Path,
            "session_max_age": int,
            "register_on_login": bool,
            "oidc_issuer": str,
            "oidc_client_id": str,
            "oidc_client_secret_file": Path,
            "oidc_scope": str,
            "oidc_label": str,
            "smtp_host": str,
            "smtp_port": int,
            "smtp_starttls": bool,
            "smtp_user": str,
            "smtp_password_file": Path,
            "smtp_from": str,
            "smtp_timeout": float,
            "notify_days_before": int,
        }
        for name, kind in conversions.items():
            variable = ENV_PREFIX + name.upper()
            raw = env.get(variable)
            if raw is None or raw == "":
                continue
            values[name] = _convert(variable, kind, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        for name in ("session_max_age", "smtp_port", "notify_days_before"):
            if getattr(self, name) < 1:
                raise MarketSettingsError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.oidc_issuer and not self.oidc_issuer.startswith(
            ("https://", "http://127.0.0.1:", "http://localhost:")
        ):
            raise MarketSettingsError(
                f"OIDC issuer {self.oidc_issuer!r} must be an https:// URL "
                "(http only on 127.0.0.1 or localhost)"
            )


def _convert(variable: str, kind: type, raw: str) -> object:
    if kind is bool:
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise MarketSettingsError(f"{variable}={raw!r} is not a valid bool")
        return raw.lower() in ("1", "true", "yes")
    try:
        return kind(raw)
    except ValueError:
        raise MarketSettingsError(f"{variable}={raw!r} is not a valid {kind.__name__}") from None


def _create_secret(path: Path) -> bytes:
    """A new random secret in ``path``, or the one another process put there first.

    The secret is written whole to a file of its own, which is then linked to ``path``: several
    workers starting at once see no file or a complete one, never an empty one, and all use the
    secret of whichever linked first.
    """
    secret = secrets.token_urlsafe(48).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        link_new(path, lambda handle: handle.write(secret + b"\n"), mode=0o600)
    except FileExistsError:
        return load_secret(path)
    except OSError as exc:
        raise MarketSettingsError(f"cannot create secret file {path}: {exc.strerror}") from None
    return secret


def load_secret(path: Path, *, create: bool = False, min_length: int = 16) -> bytes:
    """The secret in ``path`` (stripped); with ``create``, a new random one if it is missing.

    A new file is made with mode 0600 and ``O_EXCL``, never through a symlink. An existing one
    must be a regular file (not a link) that group and others cannot access.
    """
    try:
        fd, info = open_regular(path)  # never through a link, never a FIFO
    except FileNotFoundError:
        if not create:
            raise MarketSettingsError(f"secret file {path} does not exist") from None
        return _create_secret(path)
    except OSError as exc:
        raise MarketSettingsError(f"cannot read secret file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if info.st_mode & 0o077:  # whoever reads the session key forges any session
            raise MarketSettingsError(
                f"permissions {stat.S_IMODE(info.st_mode):04o} of secret file {path} are too "
                f"open: group and others must have no access (chmod 600 {path})"
            )
        secret = handle.read(4096).strip()
    if len(secret) < min_length:
        raise MarketSettingsError(f"secret file {path} holds fewer than {min_length} bytes")
    return secret
