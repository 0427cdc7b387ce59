"""Failure: a handler fails every time (issue 9 §7).

Before, a failed event was sent again on every run, forever, and the run exited 0. Now an event
that failed N times (--max-event-attempts, default 5) becomes a dead letter: it is no longer
sent, every run reports it in one line and exits 41 (EXIT_EVENTS_FAILED), and
``--list-dead-letters`` / ``--requeue-dead-letters [ID...]`` show and re-queue it.

The real vmcatcher_cache runs against a real signed list on 127.0.0.1 with a real shell handler
that records its environment and exits with $HANDLER_EXIT.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagelist.cache import CacheLock
from imagelist.errors import EXIT_EVENTS_FAILED
from tests.cache.support import CacheSite, build_cache_site
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.conftest import sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import Site

FAIL = {"HANDLER_EXIT": "3"}
REPORT = (
    "ERROR: {count} event(s) are dead letters and are not sent again: list them with "
    "--list-dead-letters, re-queue them with --requeue-dead-letters [ID...]"
)


@pytest.fixture
def failing_site(
    sqlite_site: Site,  # noqa: F811
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
) -> CacheSite:
    return build_cache_site(sqlite_site, server, test_pki.good, tmp_path, {"img-a": 4096})


def _types(site: CacheSite) -> list[str]:
    return [f"{kind}:{image}" if image else kind for kind, image in site.event_types()]


def test_failing_events_become_dead_letters_reported_and_requeued(
    failing_site: CacheSite,
) -> None:
    site = failing_site
    dead_file = site.cache_dir / ".vmcatcher_cache.dead-letters"
    outbox = site.cache_dir / ".vmcatcher_cache.outbox"

    # run 1: the image is cached; its two events fail and wait in the outbox (attempt 1 of 2)
    first = site.cache("-j", "1", "--max-event-attempts", "2", env=FAIL)
    assert first.code == EXIT_EVENTS_FAILED, first.err
    assert "; 4 event(s) failed; 2 event(s) pending" in first.out
    assert outbox.exists()
    assert not dead_file.exists()
    index = site.index()
    assert index["img-a"]["filename"] == "img-a"

    # run 2: sent again, failed again: attempt 2 of 2, both are dead letters
    site.clear_log()
    second = site.cache("-j", "1", "--max-event-attempts", "2", env=FAIL)
    assert second.code == EXIT_EVENTS_FAILED, second.err
    assert _types(site) == [
        "ProcessPrefix",
        "AvailablePrefix:img-a",
        "AvailablePostfix:img-a",
        "ProcessPostfix",
    ]
    buried = [line for line in second.err.splitlines() if "is a dead letter" in line]
    assert len(buried) == 2
    assert buried[0].startswith("ERROR: event AvailablePrefix for img-a is a dead letter (id ")
    assert f"handler {site.handler!r} failed 2 time(s) since " in buried[0]
    assert "last: " in buried[0]
    assert buried[0].endswith(
        "exit code 3; re-queue it with --requeue-dead-letters "
        + buried[0].split("(id ")[1].split(")")[0]
    )
    assert REPORT.format(count=2) in second.err.splitlines()
    assert not outbox.exists()
    assert dead_file.exists()

    # run 3: the handler works again, but dead letters are not sent on their own: reported, 41
    site.clear_log()
    third = site.cache("-j", "1", "--max-event-attempts", "2")
    assert third.code == EXIT_EVENTS_FAILED, third.err
    assert _types(site) == ["ProcessPrefix", "ProcessPostfix"]
    assert REPORT.format(count=2) in third.err.splitlines()
    assert site.index() == index, "the cache is unchanged"

    # list them: one tab-separated line each
    listed = site.cache("--list-dead-letters")
    assert listed.code == 0, listed.err
    rows = [line.split("\t") for line in listed.out.splitlines()]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("AvailablePrefix", "img-a", site.handler, "2"),
        ("AvailablePostfix", "img-a", site.handler, "2"),
    ]
    prefix_id, postfix_id = rows[0][0], rows[1][0]
    assert rows[1][6].endswith("exit code 3")

    # an unknown id: one line, exit 1, nothing moved
    before = dead_file.read_bytes()
    unknown = site.cache("--requeue-dead-letters", postfix_id, "no-such-id")
    assert unknown.code == 1
    assert unknown.err.strip() == (
        "vmcatcher_cache: error: no dead letter with id 'no-such-id' (see --list-dead-letters)"
    )
    assert dead_file.read_bytes() == before
    assert not outbox.exists()

    # re-queue one: the next run sends it; the other is still reported
    requeued = site.cache("--requeue-dead-letters", postfix_id)
    assert requeued.code == 0, requeued.err
    assert requeued.out == "1 dead letter(s) re-queued; they are sent again at the next run\n"
    site.clear_log()
    fourth = site.cache("-j", "1")
    assert fourth.code == EXIT_EVENTS_FAILED, fourth.err
    assert _types(site) == ["ProcessPrefix", "AvailablePostfix:img-a", "ProcessPostfix"]
    assert REPORT.format(count=1) in fourth.err.splitlines()

    # re-queue all (no id): the last run is clean
    assert site.cache("--requeue-dead-letters").out.startswith("1 dead letter(s) re-queued")
    site.clear_log()
    fifth = site.cache("-j", "1")
    assert fifth.code == 0, fifth.err
    assert _types(site) == ["ProcessPrefix", "AvailablePrefix:img-a", "ProcessPostfix"]
    assert "dead letter" not in fifth.err
    assert not dead_file.exists()
    assert not outbox.exists()
    assert site.index() == index
    assert prefix_id != postfix_id


def test_the_default_is_five_attempts(failing_site: CacheSite) -> None:
    site = failing_site
    for run in range(1, 6):
        result = site.cache("-j", "1", env=FAIL)
        assert result.code == EXIT_EVENTS_FAILED
        assert ("is a dead letter" in result.err) == (run == 5), (run, result.err)
    listed = site.cache("--list-dead-letters").out.splitlines()
    assert [line.split("\t")[4] for line in listed] == ["5", "5"]


def test_requeue_waits_for_the_cache_lock_and_bad_counts_are_usage_errors(
    failing_site: CacheSite,
) -> None:
    site = failing_site
    for _ in range(2):
        site.cache("-j", "1", "--max-event-attempts", "2", env=FAIL)
    dead_file = site.cache_dir / ".vmcatcher_cache.dead-letters"
    before = dead_file.read_bytes()
    lock = CacheLock(site.cache_dir)
    assert lock.acquire()
    try:
        held = site.cache("--requeue-dead-letters")
    finally:
        lock.release()
    assert held.code == 1
    assert held.err.splitlines() == [
        f"vmcatcher_cache: error: another run (pid {os.getpid()}) holds the cache "
        f"{site.cache_dir}; nothing re-queued"
    ]
    assert dead_file.read_bytes() == before
    assert not (site.cache_dir / ".vmcatcher_cache.outbox").exists()

    negative = site.cache("--max-event-attempts", "-1")
    assert negative.code == 1
    assert "--max-event-attempts must not be negative" in negative.err
    assert dead_file.read_bytes() == before
