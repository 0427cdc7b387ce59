"""vmcatcher_cache: keep the subscribed images, verified, in a local directory.

``plan.py`` says what should be there (the database's wanted images against ``cache.index``),
``download.py`` fetches (parallel, resumable, hashed while streaming), ``cache.py`` runs the
steps with their events, ``index.py`` keeps the three directories and their indexes,
``journal.py`` makes each move crash-safe, ``lock.py`` lets one run in at a time and
``progress.py`` shows it. See docs/vmcatcher_cache.md.
"""

from __future__ import annotations

from .cache import ACTIONS, CacheConfig, CacheRun, move_file
from .download import Downloader, DownloadJob, DownloadLimits, DownloadResult, StreamHasher
from .index import INDEX_NAME, ManagedDirectory
from .lock import CacheLock
from .progress import Summary

__all__ = [
    "ACTIONS",
    "INDEX_NAME",
    "CacheConfig",
    "CacheLock",
    "CacheRun",
    "DownloadJob",
    "DownloadLimits",
    "DownloadResult",
    "Downloader",
    "ManagedDirectory",
    "StreamHasher",
    "Summary",
    "move_file",
]
