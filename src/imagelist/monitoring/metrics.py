"""Prometheus metrics of a subscriber site, for node_exporter's textfile collector.

:func:`build_registry` makes a ``prometheus_client`` registry from the status model (per
subscription, signer certificate and CRL) and the samples kept in the database (counters and
the last run of each command, the cache's images by state, events pending), so that
``vmcatcher_subscribe -U`` and ``vmcatcher_cache`` each write the whole picture to the same file.
:func:`write_textfile` replaces the file atomically (never through a planted link).

Names follow the Prometheus conventions: ``vmcatcher_`` prefix, base units (``_seconds``,
``_bytes``), counters ``_total``, points in time as ``_timestamp_seconds`` (Unix time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import UsageError
from ..fileio import replace_atomically
from .alarms import Alarm, Thresholds, alarms
from .record import Sample
from .status import SiteStatus

__all__ = ["STORED", "StoredMetric", "build_registry", "write_textfile"]

PREFIX = "vmcatcher_"


@dataclass(frozen=True)
class StoredMetric:
    """A metric whose samples live in the database (``monitoringMetric``)."""

    name: str  # without the prefix; a counter without ``_total``
    kind: str  # "counter" or "gauge"
    help: str
    labels: tuple[str, ...] = ()


#: Every stored metric: counters kept across runs and gauges of the last run.
STORED = {
    metric.name: metric
    for metric in (
        StoredMetric("downloads", "counter", "Image downloads by result.", ("result",)),
        StoredMetric("download_bytes", "counter", "Bytes received by image downloads."),
        StoredMetric("handler_failures", "counter", "Event handler failures by event.", ("event",)),
        StoredMetric("run_duration_seconds", "gauge", "Duration of the last run.", ("command",)),
        StoredMetric("run_exit_code", "gauge", "Exit code of the last run.", ("command",)),
        StoredMetric(
            "run_last_timestamp_seconds", "gauge", "When the last run ended.", ("command",)
        ),
        StoredMetric("cache_images", "gauge", "Images by state at the last cache run.", ("state",)),
        StoredMetric(
            "cache_image_bytes", "gauge", "Image bytes by state at the last cache run.", ("state",)
        ),
        StoredMetric("events_pending", "gauge", "Events waiting to be sent again.", ("event",)),
        StoredMetric("events_dead_letters", "gauge", "Dead-lettered events.", ("event",)),
    )
}


def _ts(value: datetime) -> float:
    return value.timestamp()


class _SiteCollector(Collector):
    """Yields the families of one status model and the stored samples."""

    def __init__(
        self, status: SiteStatus | None, samples: Sequence[Sample], found: Sequence[Alarm]
    ) -> None:
        self.status = status
        self.samples = samples
        self.found = found

    def collect(self) -> Iterator[Metric]:
        yield from self._site()
        yield from self._stored()

    def _gauge(self, name: str, help_text: str, labels: Sequence[str]) -> GaugeMetricFamily:
        return GaugeMetricFamily(PREFIX + name, help_text, labels=list(labels))

    def _site(self) -> Iterator[Metric]:
        if self.status is None:
            return
        sub = ["subscription"]
        success = self._gauge(
            "subscription_last_success_timestamp_seconds", "Last successful update.", sub
        )
        attempt = self._gauge(
            "subscription_last_attempt_timestamp_seconds", "Last update attempt.", sub
        )
        up = self._gauge("subscription_up", "1 if the last update succeeded, else 0.", sub)
        expiry = self._gauge(
            "subscription_list_expiry_timestamp_seconds", "Expiry of the accepted list.", sub
        )
        cert = self._gauge(
            "signer_certificate_expiry_timestamp_seconds",
            "notAfter of the certificate that signed the accepted list.",
            ["subscription", "subject"],
        )
        crl = self._gauge(
            "crl_next_update_timestamp_seconds", "nextUpdate of the CA's newest CRL.", ["ca"]
        )
        seen: set[str] = set()
        for item in self.status.subscriptions:
            name = [item.identifier]
            if item.last_success is not None:
                success.add_metric(name, _ts(item.last_success))
            if item.last_attempt is not None:
                attempt.add_metric(name, _ts(item.last_attempt))
            ok = item.last_error is None and item.list_expires is not None
            up.add_metric(name, 1.0 if ok else 0.0)
            if item.list_expires is not None:
                expiry.add_metric(name, _ts(item.list_expires))
            if item.signer is not None:
                cert.add_metric([item.identifier, item.signer.subject], _ts(item.signer.not_after))
                for ca in item.signer.path:
                    if ca.subject not in seen and ca.crl_next_update is not None:
                        seen.add(ca.subject)
                        crl.add_metric([ca.subject], _ts(ca.crl_next_update))
        alarm = self._gauge(
            "expiry_alarm",
            "Expiry alarms: 1 warning, 2 critical (list, certificate, crl).",
            ["kind", "subject"],
        )
        for found in self.found:
            if found.kind in ("list", "certificate", "crl"):
                alarm.add_metric([found.kind, found.subject], float(int(found.level)))
        yield from (success, attempt, up, expiry, cert, crl, alarm)

    def _stored(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for metric in STORED.values():
            if metric.kind == "counter":
                families[metric.name] = CounterMetricFamily(
                    PREFIX + metric.name, metric.help, labels=list(metric.labels)
                )
            else:
                families[metric.name] = self._gauge(metric.name, metric.help, metric.labels)
        for sample in self.samples:
            family = families.get(sample.name)
            stored = STORED.get(sample.name)
            if family is None or stored is None:
                continue
            labels = [sample.labels.get(label, "") for label in stored.labels]
            family.add_metric(labels, sample.value)
        yield from families.values()


def build_registry(
    status: SiteStatus | None,
    samples: Iterable[Sample],
    thresholds: Thresholds | None = None,
) -> CollectorRegistry:
    """A registry with the site's families and the stored samples."""
    registry = CollectorRegistry(auto_describe=False)
    found = alarms(status, thresholds or Thresholds()) if status is not None else []
    registry.register(_SiteCollector(status, list(samples), found))
    return registry


def write_textfile(path: str | Path, registry: CollectorRegistry) -> None:
    """Replace ``path`` (a ``.prom`` file) atomically with the registry's text format."""
    target = Path(path)
    if not target.parent.is_dir():
        raise UsageError(f"cannot write metrics to {target}: directory {target.parent} is missing")
    try:
        replace_atomically(target, generate_latest(registry), mode=0o644)
    except OSError as exc:
        raise UsageError(f"cannot write metrics to {target}: {exc.strerror}") from None
