"""One ``vmcatcher_cache`` run: recover, expire, check, prune, download, with events.

The order is vmcatcher 0.6's (reference §2.6, §2.7): load the indexes, ProcessPrefix, expire
(ExpirePrefix, move to ``expired/``, ExpirePostfix), the sha512 check (``-s``), download
(AvailablePrefix, move to ``cache/``, AvailablePostfix, in the order downloads finish), save the
indexes, ProcessPostfix. A failing step raises (exit 1) and ProcessPostfix is not sent; a failed
download is counted and logged, and the run goes on.

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
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from ..errors import ImageListError
from ..events import EventDispatcher, EventType, HandlerResult, Outbox
from ..fetch import Fetcher
from .download import Downloader, DownloadJob, DownloadLimits, DownloadResult, hash_file
from .index import (
    EXPIRED_TIME_FORMAT,
    ManagedDirectory,
    expired_name,
    quarantine_strays,
)
from .journal import Journal, Step
from .plan import (
    StoredList,
    WantedImage,
    entry_sha512,
    entry_size,
    image_metadata,
    list_messages,
    plan_downloads,
    plan_expiry,
    read_stored_list,
    wanted_images,
)
from .progress import ProgressDisplay, Summary
from .safefs import Modes, check_entry, quarantine, safe_move, safe_name, usable

__all__ = ["ACTIONS", "OUTBOX_NAME", "CacheConfig", "CacheRun", "move_file"]

logger = logging.getLogger(__name__)

ACTIONS = ("expire", "check", "download")
OUTBOX_NAME = ".vmcatcher_cache.outbox"
#: Partial-index keys of our own, dropped when the entry moves to ``cache/``.
_RESUME = "resume"


@dataclass(frozen=True)
class CacheConfig:
    """Settings of a run. Directories are kept as configured (handlers get them verbatim)."""

    cache_dir: str
    partial_dir: str
    expired_dir: str
    actions: frozenset[str] = frozenset({"expire", "download"})
    jobs: int = 4
    max_tries: int = 5
    dry_run: bool = False
    expired_max_age: float | None = None
    expired_max_size: int | None = None
    limits: DownloadLimits = field(default_factory=DownloadLimits)
    #: Copy ``file:`` images even of lists read over http(s) (off: only ``file:`` lists may).
    allow_file_images: bool = False
    #: Modes of created directories and files (the umask applies on top).
    modes: Modes = field(default_factory=Modes)


def move_file(source: Path, destination: Path, modes: Modes | None = None) -> None:
    """Rename a checked regular file durably inside the cache (see :func:`.safefs.safe_move`)."""
    safe_move(source.parent, source.name, destination.parent, destination.name, modes or Modes())


def _expired_time(name: str, path: Path) -> float:
    """When an expired file was retired: from its name, else its modification time."""
    with contextlib.suppress(ValueError):
        return datetime.strptime(name.rpartition(".")[2], EXPIRED_TIME_FORMAT).timestamp()
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def _local_list(image: WantedImage) -> bool:
    """Whether the image's list was read from a ``file:`` URL (so it may name local files)."""
    return image.list_url[:5].lower() == "file:"


class CacheRun:
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

    def _owe(self, event_type: EventType, metadata: Mapping[str, Any]) -> None:
        """An event a crashed run did not send: into the outbox for every handler."""
        for name in self.dispatcher.names:
            self.outbox.add(event_type, metadata, name, "owed by an interrupted run")

    # --- after a crash -------------------------------------------------------------------------

    def recover(self) -> None:
        """Complete a move a crashed run left half done."""
        step = self.journal.pending()
        if step is None:
            return
        if not (safe_name(step.key) and safe_name(step.target)):
            shown = str(step.key)[:80]
            logger.error("the cache journal names no file of the cache: %r; ignored", shown)
            self.journal.end()
            return
        logger.warning("completing the %s of %s left by an interrupted run", step.op, step.key)
        if step.op == "install":
            self._finish_install(step)
        elif step.op == "expire":
            self._finish_expire(step)
        else:
            logger.error("unknown step %r in the cache journal; ignored", step.op)
        self.journal.end()

    def _finish_install(self, step: Step) -> None:
        source = self.partial.path / step.key
        destination = self.cache.path / step.key
        modes = self.config.modes
        if not usable(self.cache.path, step.key, modes) and usable(
            self.partial.path, step.key, modes
        ):
            move_file(source, destination, modes)
        if usable(self.cache.path, step.key, modes):
            self.cache.entries[step.key] = step.entry
            self.partial.entries.pop(step.key, None)
            self.cache.save()
            self.partial.save()
            self._owe(EventType.AVAILABLE_POSTFIX, step.entry)

    def _finish_expire(self, step: Step) -> None:
        source = self.cache.path / step.key
        destination = self.expired.path / step.target
        modes = self.config.modes
        if not usable(self.expired.path, step.target, modes) and usable(
            self.cache.path, step.key, modes
        ):
            move_file(source, destination, modes)
        if usable(self.expired.path, step.target, modes):
            entry = dict(step.entry, filename=step.target)
            self.expired.entries[step.target] = entry
            self.cache.entries.pop(step.key, None)
            self.expired.save()
            self.cache.save()
            self._owe(EventType.EXPIRE_POSTFIX, entry)

    def reconcile(self) -> None:
        """Make each index and its directory agree (after a crash, or someone's hand)."""
        for directory in self.directories():
            for temporary in directory.temporary_files():
                logger.info("removing %s (left by an interrupted write)", temporary)
                temporary.unlink(missing_ok=True)
        quarantine_strays(self.directories())
        self._reconcile_cache()
        self._reconcile_partial()
        self._reconcile_expired()

    def _drop_bad_entries(self, directory: ManagedDirectory) -> bool:
        changed = False
        for key in list(directory.entries):
            entry = directory.entries[key]
            name = str(entry.get("filename") or key)
            if not usable(directory.path, name, self.config.modes):
                logger.warning("%s: index entry %s has no file; entry removed", directory.path, key)
                del directory.entries[key]
                changed = True
        return changed

    def _reconcile_cache(self) -> None:
        changed = self._drop_bad_entries(self.cache)
        for name in self.cache.unreferenced():
            changed = True
            pending = self.partial.entries.get(name)
            path = self.cache.path / name
            if pending is not None and self._matches(path, pending):
                logger.warning("%s: verified image left by an interrupted run; kept", name)
                entry = {k: v for k, v in pending.items() if k != _RESUME}
                entry["filename"] = name
                self.cache.entries[name] = entry
                del self.partial.entries[name]
                self.partial.save()
                self._owe(EventType.AVAILABLE_POSTFIX, entry)
                continue
            target = self._expired_target(name)
            logger.warning("%s: not in %s; moved to %s", path, self.cache.index_path, target)
            move_file(path, self.expired.path / target, self.config.modes)
            self.expired.entries[target] = {"filename": target}
            self.expired.save()
        if changed:
            self.cache.save()

    def _matches(self, path: Path, entry: Mapping[str, Any]) -> bool:
        try:
            if os.lstat(path).st_size != entry_size(entry):
                return False
            return hash_file(path, cancel=self.cancel).hexdigest() == entry_sha512(entry)
        except (OSError, ImageListError):
            return False

    def _reconcile_partial(self) -> None:
        for name in self.partial.unreferenced():
            logger.info("%s: partial file without an index entry; removed", name)
            (self.partial.path / name).unlink(missing_ok=True)

    def _reconcile_expired(self) -> None:
        changed = False
        for key in list(self.expired.entries):
            name = str(self.expired.entries[key].get("filename") or key)
            if not usable(self.expired.path, name, self.config.modes):
                del self.expired.entries[key]
                changed = True
        if changed:
            self.expired.save()

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
        """Retire cached images that are no longer wanted or changed; refresh list data."""
        wanted = self.wanted()
        for expiry in plan_expiry(self.cache.entries, wanted):
            logger.info("expiring %s: %s", expiry.key, expiry.reason)
            self.expire_one(expiry.key)
        refreshed = False
        for key, entry in self.cache.entries.items():
            image = wanted.get(key)
            if image is not None and entry.get("msgHash") != image.msg_hash:
                stored = self._stored(image.list_id)
                if stored is not None:
                    entry["message"] = stored.text
                    entry["msgHash"] = image.msg_hash
                    refreshed = True
        if refreshed:
            self.cache.save()

    def _expired_target(self, key: str) -> str:
        when = self.now()
        target = expired_name(key, when)
        while target in self.expired.entries or os.path.lexists(self.expired.path / target):
            when += timedelta(seconds=1)
            target = expired_name(key, when)
        return target

    def expire_one(self, key: str) -> None:
        """ExpirePrefix, move to ``expired/<id>.<time>``, save the indexes, ExpirePostfix."""
        entry = self.cache.entries[key]
        self._emit(EventType.EXPIRE_PREFIX, entry)
        target = self._expired_target(key)
        self.journal.begin(Step("expire", key, target, entry))
        move_file(self.cache.file_of(key), self.expired.path / target, self.config.modes)
        moved = dict(entry, filename=target)
        self.expired.entries[target] = moved
        self.expired.save()
        del self.cache.entries[key]
        self.cache.save()
        self.journal.end()
        self.summary.expired += 1
        self._emit(EventType.EXPIRE_POSTFIX, moved)

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
        with ThreadPoolExecutor(max_workers=max(1, self.config.jobs)) as pool:
            problems = list(pool.map(self._verify, keys))
        for key, problem in zip(keys, problems, strict=True):
            if problem is None:
                continue
            logger.error("cached image %s is corrupt (%s); expiring it", key, problem)
            self.summary.corrupt += 1
            self.expire_one(key)

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
            path.unlink(missing_ok=True)
            del self.expired.entries[key]
            total -= size
            self.summary.pruned += 1
        if self.summary.pruned:
            self.expired.save()

    # --- download ------------------------------------------------------------------------------

    def _prepare_entry(self, image: WantedImage) -> dict[str, Any] | None:
        """The partial entry of a download (None when given up); counts the try (0.6)."""
        key = image.identifier
        old = self.partial.entries.get(key)
        if old is not None and entry_sha512(old) != image.sha512:
            logger.info("%s: the partial file is of another version; starting over", key)
            (self.partial.path / key).unlink(missing_ok=True)
            old = None
        entry = image_metadata(image, self._stored(image.list_id))
        entry["filename"] = key
        tries = (old or {}).get("DownLoadTrys") or {}
        count = int(tries.get("count", 0)) if tries.get("msgHash") == image.msg_hash else 0
        resume = (old or {}).get(_RESUME)
        if isinstance(resume, dict) and resume.get("uri") == image.uri:
            entry[_RESUME] = resume
        self.partial.entries[key] = entry
        if self.config.max_tries and count >= self.config.max_tries:
            logger.warning("%s: %d tries failed; given up until a new list arrives", key, count)
            entry["DownLoadTrys"] = {"count": count, "msgHash": image.msg_hash}
            self.summary.gave_up += 1
            return None
        entry["DownLoadTrys"] = {"count": count + 1, "msgHash": image.msg_hash}
        return entry

    def _record_validator(self, job: DownloadJob, validator: str | None) -> None:
        """A worker learned the server's validator: keep it for resuming in a later run."""
        with self.partial.lock:
            entry = self.partial.entries.get(job.identifier)
            if entry is None:
                return
            if validator:
                entry[_RESUME] = {"uri": job.uri, "validator": validator}
            else:
                entry.pop(_RESUME, None)
            self.partial.save()

    def download(self) -> None:
        """Download what is missing, in parallel; install each as it completes."""
        images = plan_downloads(self.cache.entries, self.wanted())
        planned = {image.identifier for image in images}
        for key in list(self.partial.entries):
            if key not in planned:
                logger.info("%s: no longer to download; partial file removed", key)
                (self.partial.path / key).unlink(missing_ok=True)
                del self.partial.entries[key]
        jobs: list[DownloadJob] = []
        for image in images:
            entry = self._prepare_entry(image)
            if entry is None:
                continue
            resume = entry.get(_RESUME) or {}
            jobs.append(
                DownloadJob(
                    image.identifier,
                    image.uri,
                    image.size,
                    image.sha512,
                    self.partial.path / image.identifier,
                    validator=resume.get("validator"),
                    local_files=self.config.allow_file_images or _local_list(image),
                    file_mode=self.config.modes.file,
                )
            )
        self.partial.save()
        if not jobs:
            return
        fetcher = self._fetcher_factory()
        downloader = Downloader(
            fetcher, self.config.limits, cancel=self.cancel, on_validator=self._record_validator
        )
        display = None
        if self.progress is not None:
            display = ProgressDisplay(self.progress, downloader.transfers)
            display.start()
        pool = ThreadPoolExecutor(max_workers=max(1, self.config.jobs), thread_name_prefix="dl")
        try:
            futures = [pool.submit(downloader.download, job) for job in jobs]
            for future in as_completed(futures):
                result = future.result()
                if display is not None:
                    display.render()
                self._finish(result)
        except BaseException:
            self.cancel.set()  # a fatal step or an interrupt: stop the other downloads
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if display is not None:
                display.stop()
            downloader.close()
            fetcher.close()

    def _finish(self, result: DownloadResult) -> None:
        job = result.job
        self.summary.received += result.received
        if not result.ok:
            self.summary.failed += 1
            self.summary.errors.append(f"{job.identifier}: {result.error}")
            logger.error("%s: %s", job.identifier, result.error)
            return
        logger.info(
            "%s: %d bytes verified in %.1f s (%d reused from an earlier run)",
            job.identifier,
            job.size,
            result.seconds,
            result.resumed_from,
        )
        self.install(job.identifier)

    def install(self, key: str) -> None:
        """AvailablePrefix, move to ``cache/<id>``, save the indexes, AvailablePostfix."""
        problem = check_entry(self.partial.path / key)
        if problem is not None:  # changed under us since the download was verified
            quarantine(self.partial.path, key, problem, self.config.modes)
            self.summary.failed += 1
            self.summary.errors.append(f"{key}: the verified partial file was replaced")
            return
        if key in self.cache.entries:  # only without the expire action: retire the old one
            self.expire_one(key)
        with self.partial.lock:
            partial_entry = dict(self.partial.entries[key])
        self._emit(EventType.AVAILABLE_PREFIX, partial_entry)
        entry = {k: v for k, v in partial_entry.items() if k != _RESUME}
        entry["filename"] = key
        self.journal.begin(Step("install", key, key, entry))
        move_file(self.partial.path / key, self.cache.path / key, self.config.modes)
        self.cache.entries[key] = entry
        self.cache.save()
        with self.partial.lock:
            del self.partial.entries[key]
            self.partial.save()
        self.journal.end()
        self.summary.downloaded += 1
        self._emit(EventType.AVAILABLE_POSTFIX, entry)

    # --- dry run -------------------------------------------------------------------------------

    def dry_run(self) -> Iterable[str]:
        """Lines saying what a run would do; nothing is written, no event is sent."""
        for directory in self.directories():
            if directory.path.is_dir():
                directory.load()
            else:
                yield f"create\t{directory.path}"
        with contextlib.suppress(ImageListError):
            self.outbox.load()
        for record in self.outbox.pending:
            yield f"resend\t{record.type}\t{record.identifier}\t{record.handler}"
        actions = self.config.actions
        entries = dict(self.cache.entries)
        if "expire" in actions:
            for expiry in plan_expiry(entries, self.wanted()):
                yield f"expire\t{expiry.key}\t{expiry.reason}"
                entries.pop(expiry.key, None)
        if "check" in actions:
            for key in sorted(entries):
                yield f"check\t{key}"
        if "download" in actions:
            for image in plan_downloads(entries, self.wanted()):
                have = 0
                with contextlib.suppress(OSError):
                    have = os.lstat(self.partial.path / image.identifier).st_size
                yield f"download\t{image.identifier}\t{image.size}\t{have}\t{image.uri}"
