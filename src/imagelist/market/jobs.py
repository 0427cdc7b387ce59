"""Integrity jobs: asked for through the API, kept in the database, run by :class:`JobRunner`.

* :func:`start_check` queues a job and moves the version to ``verifying``;
  :func:`cancel_check` cancels it (a queued job at once, a running one at its next chunk).
* :class:`JobRunner` (one per process, started by the app) claims queued jobs one at a time
  with a conditional UPDATE (several workers never run the same job), checks the version's
  images ``integrity_concurrency`` at a time (https verified against the system CAs and the
  market's CA directory), reports a heartbeat, and finishes the job:
  every image ok (or skipped, when the endorser turned the check off) → ``verified`` (and
  published, for "Verify & Publish"); any failure → ``failed``; cancelled → ``draft``.
* Stopping the service puts a running job back in the queue; queued jobs run after the
  restart. A running job whose heartbeat is older than the lease was abandoned (its process
  died): the runner marks it failed with that reason, and its version failed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ..db.market.models import ApplianceVersion, ImageInstance, IntegrityJob
from ..errors import ImageListError, MarketIntegrityError, MarketStateError
from ..fetch import Fetcher, FetchLimits
from ..trust.store import TrustStore
from .common import Caller, audit, now, require_member
from .integrity import CheckLimits, CheckResult, check_image
from .settings import MarketSettings
from .versions import move, publish_version

__all__ = ["JobRunner", "cancel_check", "latest_job", "recover_jobs", "start_check"]

logger = logging.getLogger(__name__)

ABANDONED = "interrupted: the service stopped while the job was running"
_WAIT_SECONDS = 0.25


def latest_job(session: Session, version: ApplianceVersion) -> IntegrityJob | None:
    """The version's newest integrity job."""
    return session.scalars(
        select(IntegrityJob)
        .where(IntegrityJob.version_id == version.id)
        .order_by(IntegrityJob.id.desc())
    ).first()


def start_check(
    session: Session, caller: Caller, version: ApplianceVersion, *, publish: bool = False
) -> IntegrityJob:
    """Queue an integrity check of every image of ``version`` (draft, verified or failed)."""
    person = require_member(session, caller, version.appliance)
    if not version.instances:
        raise MarketStateError(f"version {version.version} has no images to check")
    move(version, "verifying")
    for instance in version.instances:
        instance.integrity_state = "pending"
        instance.integrity_message = None
        instance.checked_at = None
    job = IntegrityJob(
        version_id=version.id,
        state="queued",
        publish_after=publish,
        created=now(),
        requested_by=person,
    )
    session.add(job)
    session.flush()
    audit(session, caller, "integrity.start", f"version:{version.id}", job=job.id, publish=publish)
    return job


def cancel_check(session: Session, caller: Caller, version: ApplianceVersion) -> IntegrityJob:
    """Cancel the version's queued or running check; the version goes back to draft."""
    require_member(session, caller, version.appliance)
    job = latest_job(session, version)
    if job is None or job.state not in ("queued", "running"):
        raise MarketIntegrityError(f"version {version.version} has no check in progress")
    if job.state == "queued":
        _finish_cancelled(session, job, version)
    else:
        job.cancel_requested = True
    session.flush()
    audit(session, caller, "integrity.cancel", f"version:{version.id}", job=job.id)
    return job


def _finish_cancelled(session: Session, job: IntegrityJob, version: ApplianceVersion) -> None:
    job.state = "cancelled"
    job.finished = now()
    job.error = "cancelled"
    if version.state == "verifying":
        move(version, "draft")
    for instance in version.instances:
        if instance.integrity_state in ("pending", "running"):
            instance.integrity_state = "pending"
            instance.integrity_message = "check cancelled"


def recover_jobs(engine: Engine, lease_seconds: float) -> int:
    """Mark running jobs whose heartbeat is older than the lease failed; how many there were."""
    # Heartbeats are stored in whole seconds (common.now): one more second, or a heartbeat
    # written a moment ago could already look a lease old.
    limit = now() - timedelta(seconds=lease_seconds + 1)
    count = 0
    with Session(engine) as session, session.begin():
        stale = session.scalars(select(IntegrityJob).where(IntegrityJob.state == "running")).all()
        for job in stale:
            beat = job.heartbeat or job.started or job.created
            if beat > limit:
                continue
            count += 1
            version = session.get_one(ApplianceVersion, job.version_id)
            job.state, job.finished = "failed", now()
            job.error = f"{ABANDONED} (worker {job.worker}, last heard at {beat:%H:%M:%SZ})"
            if version.state == "verifying":
                move(version, "failed")
            for instance in version.instances:
                if instance.integrity_state in ("pending", "running"):
                    instance.integrity_state = "failed"
                    instance.integrity_message = ABANDONED
            audit(
                session,
                Caller(person_id=None, via="system"),
                "integrity.abandoned",
                f"version:{version.id}",
                job=job.id,
            )
            logger.warning("integrity job %d of version %d: %s", job.id, version.id, ABANDONED)
    return count


class JobRunner:
    """Runs queued integrity jobs in a background thread of the service process."""

    def __init__(
        self,
        engine: Engine,
        settings: MarketSettings,
        *,
        poll_seconds: float = 0.5,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.fetcher = fetcher or Fetcher(
            _https_store(settings),
            igtf_https=settings.https_igtf,
            limits=FetchLimits(
                connect_timeout=settings.integrity_timeout,
                read_timeout=settings.integrity_stall_seconds,
            ),
        )
        self.limits = CheckLimits(
            connect_timeout=settings.integrity_timeout,
            stall_seconds=settings.integrity_stall_seconds,
            max_size=settings.integrity_max_size,
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(settings.integrity_concurrency, "integrity")
        # A live job's heartbeat stays well inside the lease other workers judge it by.
        self._beat_every = min(1.0, settings.integrity_lease_seconds / 4)

    def start(self) -> None:
        """Recover abandoned jobs, then run queued ones in the background."""
        recover_jobs(self.engine, self.settings.integrity_lease_seconds)
        self._thread = threading.Thread(target=self._loop, name="integrity-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for queued jobs now."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the current chunk; a running job goes back to the queue."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.fetcher.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_one()
                if not ran:
                    recover_jobs(self.engine, self.settings.integrity_lease_seconds)
            except Exception:  # the runner must outlive a database hiccup
                logger.exception("integrity job runner")
                ran = False
            if not ran:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _claim(self) -> int | None:
        with Session(self.engine) as session, session.begin():
            job_id = session.scalar(
                select(IntegrityJob.id)
                .where(IntegrityJob.state == "queued")
                .order_by(IntegrityJob.id)
                .limit(1)
            )
            if job_id is None:
                return None
            claimed = session.execute(
                update(IntegrityJob)
                .where(IntegrityJob.id == job_id, IntegrityJob.state == "queued")
                .values(state="running", started=now(), heartbeat=now(), worker=self.worker)
            )
            return job_id if claimed.rowcount == 1 else None  # type: ignore[attr-defined]

    def run_one(self) -> bool:
        """Claim and run one queued job; False if there was none."""
        job_id = self._claim()
        if job_id is None:
            return False
        with Session(self.engine) as session:
            job = session.get_one(IntegrityJob, job_id)
            version = session.get_one(ApplianceVersion, job.version_id)
            version_id = version.id
            targets = [(i.id, i.uri, i.size, i.sha512, i.autocheck) for i in version.instances]
            for instance in version.instances:
                instance.integrity_state = "running" if instance.autocheck else "pending"
            session.commit()
        logger.info("integrity job %d: %d images of version %d", job_id, len(targets), version_id)
        cancel = threading.Event()
        counter = _Counter()
        futures = {
            target[0]: self._pool.submit(self._check, target, cancel, counter) for target in targets
        }
        results: dict[int, CheckResult] = {}
        pending = dict(futures)
        while pending:
            for instance_id, future in list(pending.items()):
                if future.done():
                    results[instance_id] = future.result()
                    self._record(job_id, instance_id, results[instance_id])
                    del pending[instance_id]
            if pending and self._beat(job_id, counter.value, cancel):
                for future in pending.values():
                    future.cancel()
            if pending:
                wait(pending.values(), timeout=_WAIT_SECONDS, return_when=FIRST_COMPLETED)
                if self._stop.is_set():
                    cancel.set()
        self._finish(job_id, results, counter.value, cancel.is_set())
        return True

    def _check(
        self, target: tuple[int, str, int, str, bool], cancel: threading.Event, counter: _Counter
    ) -> CheckResult:
        _id, uri, size, sha512, autocheck = target
        if not autocheck:
            return CheckResult("skipped", "not checked: the endorser turned the check off", 0)
        return check_image(
            self.fetcher,
            uri,
            size,
            sha512,
            limits=self.limits,
            cancel=cancel,
            progress=counter.add,
            access=self.settings.registry_access,
        )

    def _ours(self, job: IntegrityJob) -> bool:
        """Whether this worker still runs ``job`` (another fails it once its lease runs out)."""
        return job.state == "running" and job.worker == self.worker

    def _record(self, job_id: int, instance_id: int, result: CheckResult) -> None:
        with Session(self.engine) as session, session.begin():
            if not self._ours(session.get_one(IntegrityJob, job_id)):
                return
            instance = session.get(ImageInstance, instance_id)
            if instance is not None:
                instance.integrity_state = result.state
                instance.integrity_message = result.message
                instance.checked_at = now()

    def _beat(self, job_id: int, done: int, cancel: threading.Event) -> bool:
        """Report progress; True (and ``cancel`` set) when a cancel was asked for."""
        with Session(self.engine) as session, session.begin():
            job = session.get_one(IntegrityJob, job_id)
            if not self._ours(job):  # taken over: stop reading
                cancel.set()
                return True
            if job.heartbeat is None or (now() - job.heartbeat).total_seconds() >= self._beat_every:
                job.heartbeat = now()
            job.bytes_read = done
            if job.cancel_requested and not cancel.is_set():
                cancel.set()
                return True
        return False

    def _finish(
        self, job_id: int, results: dict[int, CheckResult], done: int, cancelled: bool
    ) -> None:
        with Session(self.engine) as session, session.begin():
            job = session.get_one(IntegrityJob, job_id)
            if not self._ours(job):
                # another worker judged it abandoned (its lease ran out) and failed it
                logger.warning(
                    "integrity job %d: taken over (%s); result dropped", job_id, job.error
                )
                return
            version = session.get_one(ApplianceVersion, job.version_id)
            job.bytes_read = done
            job.finished = now()
            if cancelled and self._stop.is_set() and not job.cancel_requested:
                # the service is stopping: the job runs again after the restart
                job.state, job.started, job.finished, job.worker = "queued", None, None, None
                job.error = "requeued: the service stopped while it ran"
                for instance in version.instances:
                    instance.integrity_state = "pending"
                    instance.integrity_message = None
                logger.info("integrity job %d requeued (service stopping)", job_id)
                return
            if cancelled:
                _finish_cancelled(session, job, version)
                return
            failed = [r for r in results.values() if r.state == "failed"]
            job.state = "done" if not failed else "failed"
            job.error = None if not failed else f"{len(failed)} of {len(results)} images failed"
            if version.state != "verifying":
                return
            move(version, "verified" if not failed else "failed")
            session.flush()
            if not failed and job.publish_after:
                try:
                    with session.begin_nested():
                        publish_version(
                            session, None, version, self.settings, requested_by=job.requested_by
                        )
                except ImageListError as exc:
                    job.error = f"verified, but not published: {exc}"
                    logger.warning("version %d: %s", version.id, job.error)


def _https_store(settings: MarketSettings) -> TrustStore | None:
    """The CA directory, also trusted (within its namespaces) for https image servers."""
    if settings.ca_dir is None:
        return None
    try:
        return TrustStore.load(settings.ca_dir)
    except ImageListError as exc:
        logger.warning("https image servers: system CAs only (%s)", exc)
        return None


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, count: int) -> None:
        with self._lock:
            self.value += count
