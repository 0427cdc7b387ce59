"""What the monitoring keeps in the database: each subscription's last update, and metrics.

* :func:`record_updates` writes, after a ``-U`` run, the time of each subscription's attempt,
  of its last success and its last error (one transaction for the whole run: 500 subscriptions
  cost one commit, not 500).
* :func:`add_counters` / :func:`set_gauges` keep Prometheus counters (download bytes, downloads
  by result, handler failures by event) and last-run gauges (duration, exit code per command)
  across runs, so that a counter read from the textfile only ever grows.

Both are best effort: the run they describe already happened, so a database error here is
logged as a warning and never changes a command's exit code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, insert, select

from ..db.engine import reader, transaction
from ..db.subscriber.models import MonitoringMetric, SubscriptionStatus
from ..errors import ImageListError

__all__ = [
    "Key",
    "Sample",
    "UpdateRecord",
    "add_counters",
    "labels_key",
    "read_samples",
    "record_updates",
    "set_gauges",
]

logger = logging.getLogger(__name__)

#: A metric sample kept in the database: (name, labels) → value.
Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class UpdateRecord:
    """The outcome of one subscription's update: exit code 0 is a success."""

    subscription_id: int
    exit_code: int
    message: str


@dataclass(frozen=True)
class Sample:
    """One stored metric sample."""

    name: str
    labels: Mapping[str, str]
    value: float


def labels_key(labels: Mapping[str, str]) -> str:
    """The canonical JSON of a label set (the database key)."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


def record_updates(engine: Engine, records: Sequence[UpdateRecord], now: datetime) -> None:
    """Store last attempt / success / error of each subscription updated (one transaction)."""
    if not records:
        return
    try:
        with transaction(engine) as session:
            ids = [record.subscription_id for record in records]
            existing = set(
                session.scalars(
                    select(SubscriptionStatus.subscription_id).where(
                        SubscriptionStatus.subscription_id.in_(ids)
                    )
                )
            )
            table = cast(Table, SubscriptionStatus.__table__)
            # one executemany per shape: successes also set last_success
            for success in (True, False):
                rows = [
                    {
                        "sid": record.subscription_id,
                        "attempt": now,
                        "code": record.exit_code,
                        "error": " ".join(record.message.split()) if record.exit_code else None,
                    }
                    for record in records
                    if record.subscription_id in existing and (record.exit_code == 0) == success
                ]
                if not rows:
                    continue
                values: dict[str, Any] = {
                    "last_attempt": bindparam("attempt"),
                    "last_exit_code": bindparam("code"),
                    "last_error": bindparam("error"),
                }
                if success:
                    values["last_success"] = bindparam("attempt")
                statement = (
                    table.update().where(table.c.subscription == bindparam("sid")).values(values)
                )
                session.execute(statement, rows)
            inserts = [
                {
                    "subscription_id": record.subscription_id,
                    "last_attempt": now,
                    "last_exit_code": record.exit_code,
                    "last_error": " ".join(record.message.split()) if record.exit_code else None,
                    "last_success": now if record.exit_code == 0 else None,
                }
                for record in records
                if record.subscription_id not in existing
            ]
            if inserts:
                session.execute(insert(SubscriptionStatus), inserts)
    except ImageListError as exc:
        logger.warning("the update outcomes were not recorded for monitoring: %s", exc)


def _store(engine: Engine, values: Mapping[Key, float], *, add: bool) -> None:
    if not values:
        return
    try:
        with transaction(engine) as session:
            rows = {
                (row.name, row.labels): row
                for row in session.scalars(
                    select(MonitoringMetric).where(
                        MonitoringMetric.name.in_(sorted({name for name, _ in values}))
                    )
                )
            }
            for (name, labels), value in values.items():
                key = labels_key(dict(labels))
                row = rows.get((name, key))
                if row is None:
                    session.add(MonitoringMetric(name=name, labels=key, value=float(value)))
                else:
                    row.value = row.value + value if add else float(value)
    except ImageListError as exc:
        logger.warning("the metrics were not recorded: %s", exc)


def add_counters(engine: Engine, increments: Mapping[Key, float]) -> None:
    """Add to counters kept across runs (a label set seen first with 0 is created at 0)."""
    _store(engine, increments, add=True)


def set_gauges(engine: Engine, values: Mapping[Key, float]) -> None:
    """Set gauges kept across runs (a command's last duration and exit code)."""
    _store(engine, values, add=False)


def read_samples(engine: Engine) -> list[Sample]:
    """Every stored sample, by name then labels."""
    with reader(engine) as session:
        rows = session.execute(
            select(MonitoringMetric.name, MonitoringMetric.labels, MonitoringMetric.value).order_by(
                MonitoringMetric.name, MonitoringMetric.labels
            )
        )
        return [Sample(name, json.loads(labels), float(value)) for name, labels, value in rows]
