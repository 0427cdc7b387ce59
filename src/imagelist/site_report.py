"""The effective site settings and where each comes from (``imagelist config``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .site_config import ENV_ALTERNATIVES, KEYS, Key, SiteConfig

__all__ = ["Setting", "effective_settings"]


@dataclass(frozen=True)
class Setting:
    """One effective setting: its dotted key, its value as text (secrets hidden), its source."""

    key: str
    value: str | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source}


def _text(key: Key, value: Any) -> str:
    if key.kind is bool:
        return "true" if value else "false"
    if key.kind is list:
        return ",".join(value)
    if key.kind is float:
        return f"{value:g}"
    text = str(value)
    if key.dotted == "database.url":
        from .db.engine import hide_db_password  # SQLAlchemy only when printing

        return hide_db_password(text)
    return text


def _env_text(key: Key, raw: str) -> str:
    if key.kind is bool:
        return "false" if raw.strip().lower() in ("0", "no", "false", "off") else "true"
    return _text(key, raw) if key.kind is str else raw


def _default(key: Key, chosen: Mapping[str, str | None]) -> str | None:
    cache = chosen.get("cache.directory") or "cache"
    if key.dotted == "cache.download_directory":
        return os.path.join(cache, "partial")
    if key.dotted == "cache.expire_directory":
        return os.path.join(cache, "expired")
    if key.dotted == "trust.directory":
        return "/etc/grid-security/certificates"
    return None if key.default == "none" else key.default


def effective_settings(
    config: SiteConfig,
    environ: Mapping[str, str],
    options: Mapping[str, Any] | None = None,
) -> list[Setting]:
    """Every key's effective value: option > environment > file > default.

    ``options`` maps dotted keys to the values given on a command line (None: not given).
    """
    given = options or {}
    chosen: dict[str, str | None] = {}
    result: list[Setting] = []
    for key in KEYS:
        value: str | None
        option = given.get(key.dotted)
        variables = (key.env, *ENV_ALTERNATIVES.get(key.env, ())) if key.env else ()
        from_env = next((var for var in variables if environ.get(var)), None)
        if option is not None:
            value, source = _text(key, option), f"option {key.option}"
        elif from_env is not None:
            value, source = _env_text(key, environ[from_env]), f"environment {from_env}"
        elif config.value(key) is not None:
            value, source = _text(key, config.value(key)), f"file {config.path}:{key.dotted}"
        else:
            value, source = _default(key, chosen), "default"
        chosen[key.dotted] = value
        result.append(Setting(key.dotted, value, source))
    return result
