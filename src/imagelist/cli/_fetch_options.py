"""The one fetch-limit option group of the commands that retrieve: timeouts, then the limits of
a list (``vmcatcher_subscribe``) or of an image download (``vmcatcher_cache``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

from ..cache.jobs import DownloadLimits
from ..errors import UsageError
from ..fetch_limits import DEFAULT_MAX_BYTES, FetchLimits

__all__ = ["add_fetch_limit_options", "download_limits", "fetch_limits"]

Group = argparse.ArgumentParser | argparse._ArgumentGroup
T = TypeVar("T")


def add_fetch_limit_options(group: Group, *, downloads: bool) -> None:
    """``--connect-timeout``, ``--read-timeout``, then ``--max-time`` and ``--max-list-size``
    (lists) or ``--speed-limit``, ``--speed-time`` and ``--retries`` (``downloads``)."""
    defaults = DownloadLimits() if downloads else FetchLimits()
    group.add_argument(
        "--connect-timeout", type=float, default=defaults.connect_timeout, metavar="SECONDS"
    )
    group.add_argument(
        "--read-timeout",
        type=float,
        default=defaults.read_timeout,
        metavar="SECONDS",
        help=f"longest silence of a server (default {defaults.read_timeout:g})",
    )
    if not downloads:
        group.add_argument(
            "--max-time",
            type=float,
            default=FetchLimits().max_time,
            metavar="SECONDS",
            help="longest retrieval of one list",
        )
        group.add_argument(
            "--max-list-size",
            type=int,
            default=DEFAULT_MAX_BYTES,
            metavar="BYTES",
            help=f"largest list accepted (default {DEFAULT_MAX_BYTES // 2**20} MiB)",
        )
        return
    download = DownloadLimits()
    group.add_argument(
        "--speed-limit",
        type=int,
        default=download.speed_limit,
        metavar="BYTES",
        help="a download slower than this many bytes/s for --speed-time has stalled (default "
        f"{download.speed_limit})",
    )
    group.add_argument("--speed-time", type=float, default=download.speed_time, metavar="SECONDS")
    group.add_argument(
        "--retries",
        type=int,
        default=download.retries,
        metavar="N",
        help=f"retries of a download within a run, resuming (default {download.retries})",
    )


def _limits(kind: Callable[..., T], **values: Any) -> T:
    try:
        return kind(**values)
    except ValueError as exc:  # the dataclass names the bad value
        raise UsageError(str(exc)) from None


def fetch_limits(args: argparse.Namespace) -> FetchLimits:
    """The list limits the options give (a bad value is a usage error, exit 1)."""
    return _limits(
        FetchLimits,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        max_time=args.max_time,
        max_bytes=args.max_list_size,
    )


def download_limits(args: argparse.Namespace) -> DownloadLimits:
    """The download limits the options give (a bad value is a usage error, exit 1)."""
    return _limits(
        DownloadLimits,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        speed_limit=args.speed_limit,
        speed_time=args.speed_time,
        retries=args.retries,
    )
