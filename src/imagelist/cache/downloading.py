"""The download action of a run: attempts, parallel downloads, install or replace.

What is missing or changed (:func:`~.plan.plan_downloads`) is downloaded into ``partial/`` in a
thread pool (:mod:`.download`); each verified file is moved into ``cache/`` on the main thread,
as the downloads finish, with its events: a new image is installed, a new version of a cached
one replaces it (:mod:`.steps`). A failed attempt is counted (:mod:`.attempts`), an interrupted
one is not; an image given up is reported on every run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import partial
from typing import TYPE_CHECKING, Any, TextIO

from ..events import EventType
from ..fetch import Fetcher
from .attempts import (
    ERROR_KEY,
    TRIES_KEY,
    failed_tries,
    is_given_up,
    last_error,
    record_failure,
)
from .download import Downloader, DownloadJob, DownloadResult
from .jobs import workers
from .journal import Step
from .plan import StoredList, WantedImage, entry_sha512, image_metadata, plan_downloads
from .progress import ProgressDisplay, Summary
from .safefs import check_entry, quarantine
from .steps import Steps, file_identity

if TYPE_CHECKING:
    from .cache import CacheConfig

__all__ = ["RESUME_KEY", "Downloads"]

logger = logging.getLogger(__name__)

#: Partial-index keys of our own, dropped when the entry moves to ``cache/``.
RESUME_KEY = "resume"
_RESUME = RESUME_KEY
_OWN_KEYS = frozenset({RESUME_KEY, ERROR_KEY})


def _local_list(image: WantedImage) -> bool:
    """Whether the image's list was read from a ``file:`` URL (so it may name local files)."""
    return image.list_url[:5].lower() == "file:"


class Downloads(Steps):
    """The download action of a :class:`~imagelist.cache.cache.CacheRun` (a mixin)."""

    config: CacheConfig
    summary: Summary
    cancel: threading.Event
    progress: TextIO | None
    _fetcher_factory: Callable[[], Fetcher]

    def wanted(self) -> dict[str, WantedImage]:  # pragma: no cover - the run's
        raise NotImplementedError

    def _stored(self, list_id: int) -> StoredList | None:  # pragma: no cover - the run's
        raise NotImplementedError

    def _guard(self, key: str, what: str, action: Callable[[], object]) -> bool:  # pragma: no cover
        raise NotImplementedError

    def _emit(self, event_type: EventType, metadata: Mapping[str, Any] | None = None) -> None:
        raise NotImplementedError  # pragma: no cover - the run's

    def _prepare_entry(self, image: WantedImage) -> dict[str, Any] | None:
        """The partial entry of a download, or None when the image is given up.

        Only failed attempts were counted (:mod:`.attempts`): an interrupted one counts nothing.
        """
        key = image.identifier
        old = self.partial.entries.get(key)
        if old is not None and entry_sha512(old) != image.sha512:
            logger.info("%s: the partial file is of another version; starting over", key)
            (self.partial.path / key).unlink(missing_ok=True)
            old = None
        entry = image_metadata(image, self._stored(image.list_id))
        entry["filename"] = key
        count = failed_tries(old, image.msg_hash)
        entry[TRIES_KEY] = {"count": count, "msgHash": image.msg_hash}
        if count:
            entry[ERROR_KEY] = last_error(old)
        resume = (old or {}).get(_RESUME)
        if isinstance(resume, dict) and resume.get("uri") == image.uri:
            entry[_RESUME] = resume
        self.partial.entries[key] = entry
        if is_given_up(count, self.config.max_tries):
            kept = " (the cached version stays in service)" if key in self.cache.entries else ""
            logger.error(
                "%s: given up until a new list arrives, after %d failed download attempts "
                "(last: %s)%s; 'vmcatcher_cache --reset-tries %s' tries again",
                key,
                count,
                last_error(old),
                kept,
                key,
            )
            self.summary.gave_up += 1
            self.summary.given_up.append(key)
            self.summary.note(key, "given_up", last_error(old))
            return None
        return entry

    def _queue(self, image: WantedImage, jobs: list[DownloadJob]) -> None:
        """Add the download of ``image`` to ``jobs``, unless it is given up."""
        entry = self._prepare_entry(image)
        if entry is None:
            return
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
            self._guard(image.identifier, "preparing", partial(self._queue, image, jobs))
        self.partial.save()
        if not jobs:
            return
        fetcher = self._fetcher_factory()
        downloader = Downloader(
            fetcher,
            self.config.limits,
            cancel=self.cancel,
            on_validator=self._record_validator,
            registry_access=self.config.registry_access,
        )
        display = None
        if self.progress is not None:
            titles = {image.identifier: image.title for image in images}
            display = ProgressDisplay(
                self.progress, downloader.transfers, titles=titles, total=len(jobs)
            )
            display.start()
        pool = ThreadPoolExecutor(
            max_workers=workers(self.config.jobs, len(jobs)), thread_name_prefix="dl"
        )
        try:
            futures = [pool.submit(downloader.download, job) for job in jobs]
            for future in as_completed(futures):
                result = future.result()
                if display is not None:
                    display.finished()
                self._guard(result.job.identifier, "installing", partial(self._finish, result))
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
            text = str(result.error)
            if not text.startswith(f"{job.identifier}: "):
                text = f"{job.identifier}: {text}"
            self.summary.failed += 1
            self.summary.failed_images.append(job.identifier)
            self.summary.errors.append(text)
            self.summary.note(job.identifier, "failed", text.removeprefix(f"{job.identifier}: "))
            logger.error("%s", text)
            if self.cancel.is_set():
                return  # interrupted: not a failed attempt
            with self.partial.lock:
                entry = self.partial.entries.get(job.identifier)
                if entry is not None:
                    count = record_failure(entry, str(result.error))
                    self.partial.save()
                    logger.info("%s: failed attempt %d", job.identifier, count)
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
        """Move a verified download into ``cache/``, replacing (and retiring) an older version.

        New image: AvailablePrefix, the ``install`` step, AvailablePostfix. New version of a
        cached image: ExpirePrefix (old), AvailablePrefix (new), the ``replace`` step (old to
        ``expired/``, new to ``cache/``, the indexes), ExpirePostfix (old), AvailablePostfix (new).
        """
        problem = check_entry(self.partial.path / key)
        if problem is not None:  # changed under us since the download was verified
            quarantine(self.partial.path, key, problem, self.config.modes)
            self.summary.failed += 1
            self.summary.failed_images.append(key)
            self.summary.errors.append(f"{key}: the verified partial file was replaced")
            self.summary.note(key, "failed", "the verified partial file was replaced")
            return
        with self.partial.lock:
            partial_entry = dict(self.partial.entries[key])
        entry = {k: v for k, v in partial_entry.items() if k not in _OWN_KEYS}
        entry["filename"] = key
        tries = entry.get(TRIES_KEY) or {}
        # DownLoadTrys of a cached image: the tries it took, the successful one included (0.6).
        entry[TRIES_KEY] = {"count": failed_tries(entry) + 1, "msgHash": tries.get("msgHash")}
        old = self.cache.entries.get(key)
        if old is None:
            self._emit(EventType.AVAILABLE_PREFIX, partial_entry)
            with self._step(Step("install", key, key, entry)):
                self.summary.downloaded += 1
                self.summary.note(key, "downloaded")
                self._emit(EventType.AVAILABLE_POSTFIX, entry)
            return
        self._emit(EventType.EXPIRE_PREFIX, old)
        self._emit(EventType.AVAILABLE_PREFIX, partial_entry)
        identity = file_identity(self.partial.path / key)
        step = Step("replace", key, self._expired_target(key), entry, old=old, inode=identity)
        with self._step(step) as moved:
            self.summary.downloaded += 1
            self.summary.note(key, "downloaded")
            if moved is not None:
                self.summary.expired += 1
                self.summary.note(key, "expired")
                self._emit(EventType.EXPIRE_POSTFIX, moved)
            self._emit(EventType.AVAILABLE_POSTFIX, entry)
