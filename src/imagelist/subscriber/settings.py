"""Where the vmcatcher commands take their settings from: option, then environment, then default.

* database: ``-d``, ``VMCATCHER_RDBMS``, ``sqlite:///vmcatcher.db``;
* trust directory: ``-c``, ``VMCATCHER_DIR_CERT``, ``X509_CERT_DIR``,
  ``/etc/grid-security/certificates`` (``vmcatcher_image -c`` no longer overrides the
  environment: defect D22);
* output format: ``-f``, ``VMCATCHER_OUTPUT_FORMAT``, ``lines``;
* event command: ``-x``, ``VMCATCHER_SUB_EVENT``;
* logging configuration: ``--log-config``, ``VMCATCHER_LOG_CONF``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:  # imported where used: a command's --help needs neither SQLAlchemy nor requests
    from ..trust import TrustStore

__all__ = [
    "FORMATS",
    "database_url",
    "event_command",
    "load_trust_store",
    "log_config",
    "output_format",
    "pair_outputs",
    "trust_directory",
]

logger = logging.getLogger(__name__)

#: The output formats of the vmcatcher_* commands (here, not in render.py, so that --help
#: imports no renderer; render.py re-exports it).
FORMATS = ("lines", "json", "SMIME", "message")


def database_url(value: str | None, environ: Mapping[str, str]) -> str:
    """``-d``, else ``VMCATCHER_RDBMS``, else ``sqlite:///vmcatcher.db`` (in the current dir)."""
    from ..db.subscriber import DEFAULT_DATABASE_URL

    return value or environ.get("VMCATCHER_RDBMS") or DEFAULT_DATABASE_URL


def output_format(value: str | None, environ: Mapping[str, str]) -> str:
    """``-f``, else ``VMCATCHER_OUTPUT_FORMAT``, else ``lines``; any letter case."""
    raw = value or environ.get("VMCATCHER_OUTPUT_FORMAT") or "lines"
    for name in FORMATS:
        if raw.lower() == name.lower():
            return name
    raise UsageError(f"invalid output format {raw!r} (choose from {', '.join(FORMATS)})")


def trust_directory(value: str | None, environ: Mapping[str, str]) -> str:
    """``-c``, else VMCATCHER_DIR_CERT, X509_CERT_DIR, /etc/grid-security/certificates."""
    from ..trust.store import default_trust_dir

    return value or default_trust_dir(environ)


def load_trust_store(directory: str) -> TrustStore:
    """Load the trust directory; a missing one is a usage error (exit 1, as vmcatcher)."""
    if not Path(directory).is_dir():
        raise UsageError(f"trust directory {directory} does not exist (see -c/--cert-dir)")
    from ..trust import TrustStore

    return TrustStore.load(directory)


def event_command(value: str | None, environ: Mapping[str, str]) -> str | None:
    """``-x``, else ``VMCATCHER_SUB_EVENT``, else no command."""
    return value or environ.get("VMCATCHER_SUB_EVENT") or None


def log_config(value: str | None, environ: Mapping[str, str]) -> str | None:
    """``--log-config``, else ``VMCATCHER_LOG_CONF``."""
    return value or environ.get("VMCATCHER_LOG_CONF") or None


def pair_outputs(selections: Sequence[str], outputs: Sequence[str]) -> list[tuple[str, str | None]]:
    """Selections paired with ``-o`` files by position; the rest go to standard output."""
    if len(outputs) > len(selections):
        logger.warning("%d output files but %d selections", len(outputs), len(selections))
    return [
        (selection, outputs[index] if index < len(outputs) else None)
        for index, selection in enumerate(selections)
    ]
