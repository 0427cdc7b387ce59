"""Without ``--jobs``, the number of parallel downloads follows the work, up to a cap."""

from __future__ import annotations

import pytest

from imagelist.cache.cache import CacheConfig
from imagelist.cache.jobs import AUTO_JOBS_CAP, workers
from imagelist.cli.vmcatcher_cache import build_parser


@pytest.mark.parametrize(
    ("jobs", "work", "expected"),
    [
        (None, 0, 1),
        (None, 1, 1),
        (None, 3, 3),
        (None, 8, 8),
        (None, 500, AUTO_JOBS_CAP),
        (4, 500, 4),  # an explicit --jobs wins, whatever the work
        (4, 1, 4),
        (0, 10, 1),
    ],
)
def test_workers_follow_the_work_up_to_the_cap(jobs: int | None, work: int, expected: int) -> None:
    assert workers(jobs, work) == expected


def test_the_cap_is_eight_and_checksum_threads_are_capped_by_the_caller() -> None:
    assert AUTO_JOBS_CAP == 8
    assert workers(None, 100, cap=2) == 2


def test_without_jobs_the_run_sizes_itself() -> None:
    assert CacheConfig(cache_dir="c", partial_dir="p", expired_dir="e").jobs is None
    assert build_parser().parse_args([]).jobs is None
    assert build_parser().parse_args(["--jobs", "3"]).jobs == 3
