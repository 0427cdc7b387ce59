"""What a download is given and what it reports: limits, jobs, results, live transfers.

Kept apart from the engine (:mod:`.download`) so that the progress display and the run's
planning can name a download without importing HTTP.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ImageListError
from .safefs import DEFAULT_FILE_MODE

if TYPE_CHECKING:
    import requests

__all__ = [
    "AUTO_JOBS_CAP",
    "DownloadJob",
    "DownloadLimits",
    "DownloadResult",
    "Transfer",
    "workers",
]

#: Without ``--jobs``, one download per image to fetch, at most this many at once. Images of a
#: run usually come from one or two servers: 8 connections is what a browser opens to one host,
#: little for any web server, and enough that a server throttling each connection (a common
#: fair-share setting) serves a run of 8 images in about the time of the slowest one alone.
AUTO_JOBS_CAP = 8


def workers(jobs: int | None, work: int, cap: int = AUTO_JOBS_CAP) -> int:
    """How many threads run ``work`` items: ``jobs`` if given, else one per item up to ``cap``."""
    if jobs is not None:
        return max(1, jobs)
    return max(1, min(work, cap))


@dataclass(frozen=True)
class DownloadLimits:
    """Timeouts (s), stall detection, retries and backoff of image downloads."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: A transfer slower than ``speed_limit`` bytes/s for ``speed_time`` seconds has stalled.
    speed_limit: int = 1024
    speed_time: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "speed_time"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.speed_limit < 0 or self.retries < 0 or self.backoff < 0:
            raise ValueError("speed_limit, retries and backoff must not be negative")

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (1, 2, ...): doubling, capped, jittered."""
        base = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return base * random.uniform(0.75, 1.0)  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class DownloadJob:
    """One image to fetch into ``path`` (its partial file)."""

    identifier: str
    uri: str
    size: int
    sha512: str
    path: Path
    #: ``If-Range`` value from the server's earlier answer for the same URI, if any.
    validator: str | None = None
    #: ``file:`` URIs may be copied: the list was read from a file, or the admin allowed it.
    local_files: bool = False
    #: Mode of a new partial file (the umask applies on top).
    file_mode: int = DEFAULT_FILE_MODE


@dataclass
class DownloadResult:
    """How a download ended. ``received`` counts body bytes read from the source this run."""

    job: DownloadJob
    error: ImageListError | None = None
    received: int = 0
    resumed_from: int = 0
    attempts: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """The partial file holds the image, verified and fsynced."""
        return self.error is None


@dataclass
class Transfer:
    """Live state of one download, read by the progress display and the stall watchdog."""

    identifier: str
    size: int
    done: int = 0
    received: int = 0
    started: float = field(default_factory=time.monotonic)
    window_start: float = field(default_factory=time.monotonic)
    window_done: int = 0
    response: requests.Response | None = None
    stalled: bool = False
