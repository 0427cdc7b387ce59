"""What ``vmcatcher_subscribe -U`` and ``vmcatcher_cache`` do for monitoring after a run.

Both log the expiry alarms (a list, signer certificate or CRL within the thresholds) as
warnings. With a metrics textfile they also add this run's counters and last-run gauges to the
database and write the whole registry to the file. None of it changes the run's exit code: a
failure here is one logged error.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ..errors import ImageListError
from ..events import EventType
from ..trust import TrustStore
from .alarms import Level, Thresholds, alarms
from .record import Key, add_counters, read_samples, set_gauges
from .status import SiteStatus, gather, list_hashes, read_cache

__all__ = [
    "CacheRunFacts",
    "Monitoring",
    "alarm_store",
    "cache_facts",
    "event_attempts",
    "handler_failures",
    "outbox_attempts",
    "update_failures",
]

logger = logging.getLogger("imagelist.monitoring")

STATES = ("cached", "pending", "given-up", "unavailable", "not-subscribed")
_EXPIRY_KINDS = ("list", "certificate", "crl")


@dataclass(frozen=True)
class CacheRunFacts:
    """What a cache run did, for the counters."""

    cache_dir: str
    partial_dir: str
    max_tries: int
    downloaded: int
    failed: int
    given_up: int
    received: int
    handler_failures: Mapping[str, int]


def event_attempts(outbox_file: Path) -> dict[str, int]:
    """Failed attempts of each event in an outbox or dead-letter file (id → attempts)."""
    try:
        data = json.loads(outbox_file.read_bytes())
    except (OSError, ValueError):
        return {}
    attempts: dict[str, int] = {}
    for record in data if isinstance(data, list) else []:
        if isinstance(record, dict) and isinstance(record.get("attempts"), int):
            attempts[str(record.get("id"))] = int(record["attempts"])
    return attempts


def handler_failures(before: Mapping[str, int], after: Iterable[Any]) -> dict[str, int]:
    """Handler failures by event type in a run: the attempts the outbox records gained."""
    failures: dict[str, int] = {}
    for record in after:
        gained = int(record.attempts) - before.get(str(record.id), 0)
        if gained > 0:
            failures[str(record.type)] = failures.get(str(record.type), 0) + gained
    return failures


def update_failures(results: Iterable[Any]) -> dict[str, int]:
    """Handler failures by event type of a ``-U`` run (its UpdateResults' HandlerResults)."""
    failures: dict[str, int] = {}
    for result in results:
        for handled in result.events:
            if not handled.ok:
                kind = str(handled.event.type)
                failures[kind] = failures.get(kind, 0) + 1
    return failures


def cache_facts(config: Any, summary: Any, before: Mapping[str, int], outbox: Any) -> CacheRunFacts:
    """The facts of a cache run (a CacheConfig, its Summary, the outbox before and after)."""
    return CacheRunFacts(
        cache_dir=str(config.cache_dir),
        partial_dir=str(config.partial_dir),
        max_tries=int(config.max_tries),
        downloaded=int(summary.downloaded),
        failed=int(summary.failed),
        given_up=int(summary.gave_up),
        received=int(summary.received),
        handler_failures=handler_failures(before, [*outbox.pending, *outbox.dead]),
    )


def outbox_attempts(outbox_path: Path) -> dict[str, int]:
    """Failed attempts of every event in an outbox and its dead letters, before a run."""
    from ..events.outbox import DEAD_LETTER_SUFFIX

    return {
        **event_attempts(outbox_path),
        **event_attempts(outbox_path.with_suffix(DEAD_LETTER_SUFFIX)),
    }


def alarm_store(directory: str) -> TrustStore | None:
    """The trust directory, if present, for the certificate and CRL expiry alarms."""
    if not Path(directory).is_dir():
        return None
    try:
        return TrustStore.load(directory)
    except ImageListError as exc:
        logger.warning("trust directory %s not read for expiry alarms: %s", directory, exc)
        return None


def _key(name: str, **labels: str) -> Key:
    return name, tuple(sorted(labels.items()))


class Monitoring:
    """One command's monitoring: thresholds, an optional textfile, the run's clock."""

    def __init__(self, command: str, thresholds: Thresholds, textfile: str | None) -> None:
        self.command = command
        self.thresholds = thresholds
        self.textfile = textfile
        self.started = time.monotonic()

    def _log_alarms(self, status: SiteStatus) -> None:
        for alarm in alarms(status, self.thresholds):
            if alarm.kind in _EXPIRY_KINDS and alarm.level >= Level.WARNING:
                logger.warning(
                    "expiry %s: %s: %s", alarm.level.name.lower(), alarm.subject, alarm.message
                )

    def _write(self, engine: Engine, status: SiteStatus, code: int) -> None:
        from .metrics import build_registry, write_textfile  # prometheus_client only when used

        assert self.textfile is not None
        labels = {"command": self.command}
        set_gauges(
            engine,
            {
                _key("run_duration_seconds", **labels): time.monotonic() - self.started,
                _key("run_exit_code", **labels): float(code),
                _key("run_last_timestamp_seconds", **labels): time.time(),
            },
        )
        registry = build_registry(status, read_samples(engine), self.thresholds)
        write_textfile(self.textfile, registry)

    def after_update(
        self,
        engine: Engine,
        store: TrustStore | None,
        failures: Mapping[str, int],
        code: int,
    ) -> None:
        """After ``-U``: log expiry alarms; with a textfile, count and write the metrics."""
        try:
            status = gather(engine, now=datetime.now(UTC), store=store, titles=False)
            self._log_alarms(status)
            if self.textfile is None:
                return
            add_counters(
                engine, {_key("handler_failures", event=e): n for e, n in failures.items()}
            )
            self._write(engine, status, code)
        except ImageListError as exc:
            logger.error("monitoring: %s", exc)

    def after_cache(
        self, engine: Engine, store: TrustStore | None, facts: CacheRunFacts, code: int
    ) -> None:
        """After a cache run: log expiry alarms; with a textfile, count and write the metrics."""
        try:
            cache = read_cache(
                facts.cache_dir,
                facts.partial_dir,
                max_tries=facts.max_tries,
                list_hashes=list_hashes(engine),
            )
            status = gather(engine, now=datetime.now(UTC), store=store, cache=cache, titles=False)
            self._log_alarms(status)
            if self.textfile is None:
                return
            counters = {
                _key("downloads", result="ok"): facts.downloaded,
                _key("downloads", result="failed"): facts.failed,
                _key("downloads", result="given_up"): facts.given_up,
                _key("download_bytes"): facts.received,
            }
            for event, count in facts.handler_failures.items():
                counters[_key("handler_failures", event=event)] = count
            add_counters(engine, counters)
            gauges: dict[Key, float] = {}
            for state in STATES:
                images = [
                    image
                    for item in status.subscriptions
                    for image in item.images
                    if image.state == state
                ]
                gauges[_key("cache_images", state=state)] = len(images)
                gauges[_key("cache_image_bytes", state=state)] = sum(i.size for i in images)
            pending = cache.events_pending if cache is not None else {}
            dead = cache.events_dead if cache is not None else {}
            for event in {*EventType, *pending, *dead}:
                gauges[_key("events_pending", event=str(event))] = pending.get(str(event), 0)
                gauges[_key("events_dead_letters", event=str(event))] = dead.get(str(event), 0)
            set_gauges(engine, gauges)
            self._write(engine, status, code)
        except ImageListError as exc:
            logger.error("monitoring: %s", exc)
