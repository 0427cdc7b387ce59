"""Monitoring options shared by ``vmcatcher_status``, ``vmcatcher_subscribe -U`` and
``vmcatcher_cache``: the expiry thresholds and the Prometheus textfile."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..monitoring.alarms import DEFAULT_CRITICAL_DAYS, DEFAULT_WARNING_DAYS, Thresholds
from ._settings import settings_of

if TYPE_CHECKING:  # imported when the command runs: --help needs no SQLAlchemy
    from ..monitoring.runs import Monitoring

__all__ = [
    "METRICS_ENV",
    "add_metrics_option",
    "add_monitoring_options",
    "add_threshold_options",
    "metrics_textfile",
    "monitoring_for",
    "thresholds",
]

METRICS_ENV = "IMAGELIST_METRICS_TEXTFILE"


def add_threshold_options(group: argparse._ActionsContainer) -> None:
    """``--warning-days`` and ``--critical-days``."""
    group.add_argument(
        "--warning-days",
        type=float,
        metavar="DAYS",
        help=f"a list, signer certificate or CRL expiring within DAYS is a warning "
        f"(default {DEFAULT_WARNING_DAYS:g})",
    )
    group.add_argument(
        "--critical-days",
        type=float,
        metavar="DAYS",
        help=f"... within DAYS (or expired) is critical (default {DEFAULT_CRITICAL_DAYS:g})",
    )


def add_metrics_option(group: argparse._ActionsContainer) -> None:
    """``--metrics-textfile PATH``."""
    group.add_argument(
        "--metrics-textfile",
        metavar="PATH",
        help=f"write Prometheus metrics to PATH (atomically, for node_exporter's textfile "
        f"collector; default: ${METRICS_ENV}, else none)",
    )


def thresholds(args: argparse.Namespace) -> Thresholds:
    """The thresholds: option, else the site file's ``[monitoring]``, else 7 and 1 days.

    UsageError (exit 1) if inconsistent.
    """
    site = getattr(args, "site_config", None)
    warning = args.warning_days
    if warning is None:
        warning = site.warning_days if site is not None else DEFAULT_WARNING_DAYS
    critical = args.critical_days
    if critical is None:
        critical = site.critical_days if site is not None else DEFAULT_CRITICAL_DAYS
    try:
        return Thresholds(warning_days=warning, critical_days=critical)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def metrics_textfile(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> str | None:
    """``--metrics-textfile``, else ``$IMAGELIST_METRICS_TEXTFILE``, else the site file's
    ``monitoring.metrics_textfile``, else None."""
    env = os.environ if environ is None else environ
    site = getattr(args, "site_config", None)
    path: str | None = (
        args.metrics_textfile
        or env.get(METRICS_ENV)
        or (site.metrics_textfile if site is not None else None)
        or None
    )
    if path is None:
        return None
    if not path.endswith(".prom"):
        raise UsageError(
            f"metrics textfile {path} must end in .prom (node_exporter reads only those)"
        )
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"metrics textfile {path}: directory {parent} does not exist")
    return path


def add_monitoring_options(group: argparse._ActionsContainer) -> None:
    """The thresholds and ``--metrics-textfile`` (``-U`` and ``vmcatcher_cache``)."""
    add_threshold_options(group)
    add_metrics_option(group)


def monitoring_for(command: str, args: argparse.Namespace) -> Monitoring:
    """The run's monitoring as the options ask (UsageError, exit 1, for a bad setting)."""
    environ = settings_of(args).environ
    from ..monitoring.runs import Monitoring

    return Monitoring(command, thresholds(args), metrics_textfile(args, environ))
