"""vmcatcher_cache: keep the subscribed images, verified, in a local directory.

``plan.py`` says what should be there (the database's wanted images against ``cache.index``),
``download.py`` fetches (parallel, resumable, hashed while streaming), ``cache.py`` runs the
steps with their events, ``index.py`` keeps the three directories and their indexes,
``journal.py`` makes each move crash-safe, ``lock.py`` lets one run in at a time and
``progress.py`` shows it. See docs/vmcatcher_cache.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
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

# Imported on first use (PEP 562), so that importing one submodule (or --help) does not
# import them all, nor SQLAlchemy and requests with them (ADR 0023).
_WHERE = {
    "ACTIONS": ".cache",
    "CacheConfig": ".cache",
    "CacheRun": ".cache",
    "move_file": ".cache",
    "Downloader": ".download",
    "DownloadJob": ".download",
    "DownloadLimits": ".download",
    "DownloadResult": ".download",
    "StreamHasher": ".download",
    "INDEX_NAME": ".index",
    "ManagedDirectory": ".index",
    "CacheLock": ".lock",
    "Summary": ".progress",
}

__getattr__ = lazy_exports(__name__, _WHERE)
