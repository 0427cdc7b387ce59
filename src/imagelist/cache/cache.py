"""One ``vmcatcher_cache`` run: recover, expire, check, prune, download, with events.

The order is vmcatcher 0.6's (reference §2.6, §2.7): load the indexes, ProcessPrefix, expire
(ExpirePrefix, move to ``expired/``, ExpirePostfix), the sha512 check (``-s``), download
(AvailablePrefix, move to ``cache/``, AvailablePostfix, in the order downloads finish), save the
indexes, ProcessPostfix. Unlike 0.6, only revoked images are expired first: a new version of a
cached image replaces the old one once it is downloaded and verified (:mod:`.steps`).

Each image is handled inside its own error boundary (:meth:`CacheRun._guard`): an error in its
step undoes that step, is logged in one line and counted, and the run goes on with the next
image. Only what concerns the whole cache (its directories, indexes, journal, the database)
stops the run, without ProcessPostfix. The :class:`~.progress.Summary` gives the exit code.

What is new: the run holds the cache's lock; a step interrupted by a crash is completed first
(:mod:`.journal`); events a handler did not take are sent again right after ProcessPrefix
(:class:`~imagelist.events.Outbox`); downloads run in parallel (:mod:`.download`); ``-s``
retires a corrupt file with Expire events instead of deleting it silently (D14); the expired
directory can be pruned by age and size; nothing is written through a link or outside the three
directories, and what is not a regular file is quarantined (:mod:`.safefs`, ADR 0010).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from ..errors import EXIT_INTERNAL_ERROR, DatabaseError, ImageListError
from ..events import EventDispatcher, EventType, HandlerResult, Outbox
from ..fetch import Fetcher
from ..oci.access import RegistryAccess
from .attempts import DEFAULT_MAX_TRIES
from .download import DownloadLimits, hash_file
from .downloading import Downloads
from .index import (
    EXPIRED_TIME_FORMAT,
    ManagedDirectory,
)
from .jobs import workers
from .journal import Journal, JournalPendingError, Step
from .plan import (
    StoredList,
    WantedImage,
    entry_sha512,
    entry_size,
    list_messages,
    plan_expiry,
    read_stored_list,
    wanted_images,
)
from .progress import Summary
from .recovery import Recovery, move_file
from .safefs import Modes

__all__ = ["ACTIONS", "OUTBOX_NAME", "CacheConfig", "CacheRun", "move_file"]

logger = logging.getLogger(__name__)

ACTIONS = ("expire", "check", "download")
OUTBOX_NAME = ".vmcatcher_cache.outbox"


@dataclass(frozen=True)
class CacheConfig:
    """Settings of a run. Directories are kept as configured (handlers get them verbatim)."""

    cache_dir: str
    partial_dir: str
    expired_dir: str
    actions: frozenset[str] = frozenset({"expire", "download"})
    #: Parallel downloads (and checksum threads); None: one per image, up to a cap (jobs.workers).
    jobs: int | None = None
    max_tries: int = DEFAULT_MAX_TRIES
    dry_run: bool = False
    expired_max_age: float | None = None
    expired_max_size: int | None = None
    limits: DownloadLimits = field(default_factory=DownloadLimits)
    #: Copy ``file:`` images even of lists read over http(s) (off: only ``file:`` lists may).
    allow_file_images: bool = False
    #: Modes of created directories and files (the umask applies on top).
    modes: Modes = field(default_factory=Modes)
    #: Credentials, CA bundle and plain-http hosts of ``oci://`` images (the command's
    #: ``IMAGELIST_OCI_*``; default: anonymous, https, the system CAs).
    registry_access: RegistryAccess = field(default_factory=RegistryAccess)


def _expired_time(name: str, path: Path) -> float:
    """When an expired file was retired: from its name, else its modification time."""
    with contextlib.suppress(ValueError):
        return datetime.strptime(name.rpartition(".")[2], EXPIRED_TIME_FORMAT).timestamp()
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


class CacheRun(Downloads, Recovery):
    """The work of one run on one cache (hold the cache lock around :meth:`run`)."""

    def __init__(
        self,
        config: CacheConfig,
        engine: Engine,
        dispatcher: EventDispatcher,
        fetcher: Callable[[], Fetcher],
        *,
        progress: TextIO | None = None,
        output: TextIO | None = None,
        cancel: threading.Event | None = None,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.config = config
        self.engine = engine
        self.dispatcher = dispatcher
        self._fetcher_factory = fetcher
        self.progress = progress
        self.output = output
        self.cancel = cancel or threading.Event()
        self.now = now
        modes = config.modes
        self.cache = ManagedDirectory(Path(config.cache_dir), config.cache_dir, modes=modes)
        self.partial = ManagedDirectory(Path(config.partial_dir), config.partial_dir, modes=modes)
        self.expired = ManagedDirectory(
            Path(config.expired_dir), config.expired_dir, modes=modes, expired=True
        )
        self.journal = Journal(self.cache.path)
        self.outbox = Outbox(self.cache.path / OUTBOX_NAME)
        self.summary = Summary()
        self._wanted: dict[str, WantedImage] | None = None
        self._lists: dict[int, StoredList | None] = {}

    # --- the run ---------------------------------------------------------------------------------

    def directories(self) -> tuple[ManagedDirectory, ...]:
        """cache/, partial/, expired/."""
        return (self.cache, self.partial, self.expired)

    def prepare(self) -> None:
        """Create the directories and load the indexes and the outbox."""
        for directory in self.directories():
            directory.create()
            directory.load()
            directory.set_aside_rejected(self.now())
        self.outbox.load()

    def run(self) -> Summary:
        """Recover, then the actions of the configuration, with their events."""
        started = time.monotonic()
        self.prepare()
        self.recover()
        self.reconcile()
        self._emit(EventType.PROCESS_PREFIX)
        report = self.outbox.resend(self.dispatcher)
        self.summary.events_failed += report.failed
        actions = self.config.actions
        if "expire" in actions:
            self.expire()
        if "check" in actions:
            self.check()
        self.prune()
        if "download" in actions:
            self.download()
        for directory in self.directories():
            directory.save()
        self.summary.events_pending = len(self.outbox.pending)
        self.summary.seconds = time.monotonic() - started
        self._emit(EventType.PROCESS_POSTFIX)
        return self.summary

    # --- events ------------------------------------------------------------------------------

    def _emit(self, event_type: EventType, metadata: Mapping[str, Any] | None = None) -> None:
        results: list[HandlerResult] = self.dispatcher.emit(event_type, metadata)
        if event_type in (EventType.PROCESS_PREFIX, EventType.PROCESS_POSTFIX):
            self.summary.events_failed += sum(1 for result in results if not result.ok)
            return
        self.summary.events_failed += self.outbox.record(results)

    def _move(self, source: Path, destination: Path) -> None:
        # Through this module's name: a test makes one move fail (tests/cache/test_boundary.py).
        move_file(source, destination, self.config.modes)

    # --- expire --------------------------------------------------------------------------------

    def wanted(self) -> dict[str, WantedImage]:
        """The subscribed, available images (read once per run)."""
        if self._wanted is None:
            self._wanted = wanted_images(self.engine)
        return self._wanted

    def _stored(self, list_id: int) -> StoredList | None:
        """A stored list, read and decoded once per run."""
        if list_id not in self._lists:
            data = list_messages(self.engine, [list_id]).get(list_id)
            self._lists[list_id] = None if data is None else read_stored_list(data)
        return self._lists[list_id]

    def expire(self) -> None:
        """Retire the revoked images at once; refresh the list data of the others.

        A cached image whose list now gives another version stays in service: the download
        replaces it once the new file is verified (:meth:`install`).
        """
        wanted = self.wanted()
        for expiry in plan_expiry(self.cache.entries, wanted):
            logger.info("expiring %s: %s", expiry.key, expiry.reason)
            self._guard(expiry.key, "expiring", partial(self.expire_one, expiry.key))
        refreshed = False
        for key, entry in self.cache.entries.items():
            image = wanted.get(key)
            if image is None or entry_sha512(entry) != image.sha512:
                continue  # revoked and kept after an error, or to be replaced
            if entry.get("msgHash") != image.msg_hash:
                stored = self._stored(image.list_id)
                if stored is not None:
                    entry["message"] = stored.text
                    entry["msgHash"] = image.msg_hash
                    refreshed = True
        if refreshed:
            self.cache.save()

    def expire_one(self, key: str) -> None:
        """ExpirePrefix, move to ``expired/<id>.<time>``, save the indexes, ExpirePostfix."""
        entry = self.cache.entries[key]
        self._emit(EventType.EXPIRE_PREFIX, entry)
        with self._step(Step("expire", key, self._expired_target(key), entry)) as moved:
            self.summary.expired += 1
            self.summary.note(key, "expired")
            if moved is not None:
                self._emit(EventType.EXPIRE_POSTFIX, moved)

    # --- one image's error boundary ----------------------------------------------------------

    def _guard(self, key: str, what: str, action: Callable[[], object]) -> bool:
        """Run one image's ``action``; an error fails that image only (True if it went well).

        What concerns the whole run goes through: the database, a step that could not be
        undone (its journal is pending), an interrupt.
        """
        try:
            action()
        except (DatabaseError, JournalPendingError):
            raise
        except ImageListError as exc:
            self._image_failed(key, f"{what} failed: {exc}", exc.exit_code)
            return False
        except Exception as exc:  # a bug: one image fails, one line, the run goes on
            logger.debug("%s: %s", key, what, exc_info=True)
            text = " ".join(str(exc).split())
            self._image_failed(
                key,
                f"{what} failed: internal error: {type(exc).__name__}: {text}",
                EXIT_INTERNAL_ERROR,
            )
            return False
        return True

    def _image_failed(self, key: str, text: str, code: int) -> None:
        logger.error("%s: %s", key, text)
        self.summary.failed += 1
        self.summary.failed_images.append(key)
        self.summary.errors.append(f"{key}: {text}")
        self.summary.note(key, "failed", text)
        self.summary.fatal = max(self.summary.fatal, code)

    # --- check (-s) ----------------------------------------------------------------------------

    def _verify(self, key: str) -> str | None:
        entry = self.cache.entries[key]
        path = self.cache.file_of(key)
        try:
            size = os.lstat(path).st_size
            if size != entry_size(entry):
                return f"{size} bytes instead of {entry_size(entry)}"
            if hash_file(path, cancel=self.cancel).hexdigest() != entry_sha512(entry):
                return "sha512 differs from the index"
        except OSError as exc:
            return f"cannot be read: {exc.strerror}"
        return None

    def check(self) -> None:
        """Hash every cached file again; retire the corrupt ones with Expire events (D14)."""
        keys = sorted(self.cache.entries)
        threads = workers(self.config.jobs, len(keys), cap=os.cpu_count() or 1)  # CPU-bound
        with ThreadPoolExecutor(max_workers=threads) as pool:
            problems = list(pool.map(self._verify, keys))
        for key, problem in zip(keys, problems, strict=True):
            if problem is None:
                continue
            logger.error("cached image %s is corrupt (%s); expiring it", key, problem)
            self.summary.corrupt += 1
            self.summary.note(key, "corrupt", problem)
            self._guard(key, "expiring", partial(self.expire_one, key))

    # --- prune expired/ ------------------------------------------------------------------------

    def prune(self) -> None:
        """Delete expired files older than the age limit, then the oldest beyond the size limit."""
        max_age, max_size = self.config.expired_max_age, self.config.expired_max_size
        if max_age is None and max_size is None:
            return
        files = []
        for key in self.expired.entries:
            path = self.expired.file_of(key)
            with contextlib.suppress(OSError):
                files.append((_expired_time(key, path), os.lstat(path).st_size, key, path))
        files.sort()
        now = self.now().timestamp()
        total = sum(size for _, size, _, _ in files)
        for retired, size, key, path in files:
            too_old = max_age is not None and now - retired > max_age
            too_big = max_size is not None and total > max_size
            if not (too_old or too_big):
                continue
            logger.info("pruning %s from %s", key, self.expired.path)
            if not self._guard(key, "pruning", partial(path.unlink, missing_ok=True)):
                continue
            del self.expired.entries[key]
            total -= size
            self.summary.pruned += 1
            self.summary.note(key, "pruned")
        if self.summary.pruned:
            self.expired.save()
