"""What one retrieval of a list may take and what it gives (no HTTP here: plain data).

:data:`DEFAULT_MAX_BYTES` is the one size cap of an image list read from the network, a file or
a database, unless an option says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_BYTES", "FetchLimits", "FetchResult"]

#: Largest list accepted unless told otherwise (a 1,000-image list is about 1 MiB).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FetchLimits:
    """Timeouts (seconds), the size cap (bytes) and the redirect limit of one retrieval."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_time: float = 300.0
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = 5

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "max_time"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_bytes < 1 or self.max_redirects < 0:
            raise ValueError("max_bytes must be positive and max_redirects not negative")


@dataclass(frozen=True)
class FetchResult:
    """What a retrieval gave: the bytes, or ``not_modified`` after a 304.

    ``url`` is the URL the bytes came from (after redirects, without credentials); ``etag`` and
    ``last_modified`` are the validators to send next time (None for files).
    """

    url: str
    data: bytes | None
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
