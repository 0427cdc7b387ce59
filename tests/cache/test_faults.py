"""Faults, each with a real server on 127.0.0.1 misbehaving on demand, or a real crash."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from imagelist.cache import CacheLock, download
from tests.cache.support import CacheSite, clean_environment
from tests.httpserver import Resource

KIB = 1024
RUN = "import sys; from imagelist.cli.vmcatcher_cache import main; sys.exit(main())"


def _sha(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def _spawn(site: CacheSite, *args: str, limit_fsize: int | None = None) -> subprocess.Popen[str]:
    """vmcatcher_cache as a real process (for kill -9 and resource limits)."""

    def limits() -> None:
        if limit_fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, limit_fsize))

    env = {k: v for k, v in os.environ.items() if not k.startswith("VMCATCHER_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUN,
            "-d",
            site.site.database,
            "-C",
            str(site.cache_dir),
            "-x",
            site.handler,
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limits,
    )


def assert_consistent(site: CacheSite) -> None:
    """Every index entry has its verified file; nothing else is under cache/."""
    index = site.index()
    files = {p.name for p in site.cache_dir.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert files - {"cache.index"} == set(index), "no stray or missing file under cache/"
    for key, entry in index.items():
        data = (site.cache_dir / entry["filename"]).read_bytes()
        assert len(data) == entry["size"]
        assert _sha(data) == entry["sha512"], f"{key} is verified"
    partial = site.index("partial")
    for name in os.listdir(site.cache_dir / "partial"):
        assert name == "cache.index" or name in partial, "every partial file has its entry"


def _ranges(site: CacheSite, identifier: str) -> list[tuple[str | None, int, int]]:
    return [
        (r.headers.get("Range"), r.status, r.bytes_sent)
        for r in site.server.requests_for(f"/images/{identifier}")
    ]


def test_dropped_connection_resumes_with_only_the_rest(cache_site: CacheSite) -> None:
    size = len(cache_site.contents["img-a"])
    cache_site.serve(
        "img-a", cache_site.contents["img-a"], drop_after=100 * KIB, faults=1, chunk_size=4 * KIB
    )
    result = cache_site.cache("--retries", "2")
    assert result.code == 0
    assert result.out.startswith("2 downloaded"), result.err
    first, second = _ranges(cache_site, "img-a")
    assert first == (None, 200, 100 * KIB)
    assert second[0] is not None
    assert second[1] == 206
    start = int(second[0].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 100 * KIB
    assert second[2] == size - start, "only the rest was transferred again"
    assert cache_site.server.requests_for("/images/img-a")[1].headers["If-Range"].startswith('"')
    assert_consistent(cache_site)


def test_a_failed_run_leaves_a_partial_that_the_next_run_resumes(cache_site: CacheSite) -> None:
    content = cache_site.contents["img-a"]
    cache_site.serve("img-a", content, drop_after=200 * KIB, faults=1, chunk_size=4 * KIB)
    result = cache_site.cache("--retries", "0")
    assert "1 downloaded, 0 expired, 1 failed" in result.out
    assert "connection" in result.err
    partial = cache_site.cache_dir / "partial" / "img-a"
    kept = partial.stat().st_size
    assert 0 < kept <= 200 * KIB
    assert cache_site.index("partial")["img-a"]["resume"]["validator"].startswith('"')
    result = cache_site.cache()
    assert result.out.startswith("1 downloaded")
    last = _ranges(cache_site, "img-a")[-1]
    assert last == (f"bytes={kept}-", 206, len(content) - kept)
    assert (cache_site.cache_dir / "img-a").read_bytes() == content
    assert cache_site.index()["img-a"]["DownLoadTrys"]["count"] == 2
    assert "resume" not in cache_site.index()["img-a"]


def test_more_bytes_than_hv_size_stop_at_size_plus_one(cache_site: CacheSite) -> None:
    content = cache_site.contents["img-b"]
    cache_site.server.put("/images/img-b", Resource(body=content, endless=True))
    result = cache_site.cache()
    assert "1 failed" in result.out
    assert f"sent more than hv:size ({len(content)} bytes); stopped after {len(content) + 1}" in (
        result.err
    )
    assert not (cache_site.cache_dir / "img-b").exists()
    assert not (cache_site.cache_dir / "partial" / "img-b").exists()
    assert "img-b" not in cache_site.index()


def test_a_larger_announced_length_fails_before_the_body(cache_site: CacheSite) -> None:
    content = cache_site.contents["img-b"]
    cache_site.serve("img-b", content + b"more")
    result = cache_site.cache()
    assert f"announces {len(content) + 4} bytes, {len(content)} were expected" in result.err
    assert "img-b" not in cache_site.index()
    assert cache_site.server.requests_for("/images/img-b")[0].bytes_sent <= len(content) + 4


def test_wrong_hash_caches_nothing_and_says_why(cache_site: CacheSite) -> None:
    content = cache_site.contents["img-b"]
    cache_site.serve("img-b", bytes(len(content)))  # same size, other bytes
    result = cache_site.cache("-v")
    assert result.code == 40
    assert "0 expired, 1 failed (img-b)" in result.out
    assert "sha512 of the 5120 bytes received is not the list's" in result.err
    assert f"expected sha512 {_sha(content)}" in result.err
    assert "img-b" not in cache_site.index()
    assert not (cache_site.cache_dir / "img-b").exists()
    assert not (cache_site.cache_dir / "partial" / "img-b").exists()
    assert ("AvailablePrefix", "img-b") not in cache_site.event_types()


def test_a_resumed_file_with_a_wrong_prefix_is_fetched_again_whole(cache_site: CacheSite) -> None:
    content = cache_site.contents["img-a"]
    (cache_site.cache_dir / "partial").mkdir(parents=True)
    (cache_site.cache_dir / "partial" / "img-a").write_bytes(b"x" * 1000)
    (cache_site.cache_dir / "partial" / "cache.index").write_text(
        json.dumps({"img-a": {"sha512": _sha(content), "filename": "img-a"}})
    )
    result = cache_site.cache()
    assert result.out.startswith("2 downloaded"), result.err
    assert "sha512 mismatch after resuming" in result.err
    assert [r[0] for r in _ranges(cache_site, "img-a")] == ["bytes=1000-", None]
    assert (cache_site.cache_dir / "img-a").read_bytes() == content


def test_full_disk_is_a_clean_error_and_the_partial_is_kept(cache_site: CacheSite) -> None:
    process = _spawn(cache_site, "--retries", "0", "-j", "1", limit_fsize=100 * KIB)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 40, err
    assert "File too large (partial file kept)" in err
    assert "Traceback" not in err
    assert "1 downloaded, 0 expired, 1 failed" in out
    partial = cache_site.cache_dir / "partial" / "img-a"
    assert partial.stat().st_size == 100 * KIB
    assert_consistent(cache_site)
    result = cache_site.cache()
    assert result.out.startswith("1 downloaded")
    assert _ranges(cache_site, "img-a")[-1][0] == f"bytes={100 * KIB}-"


def test_not_enough_free_space_is_checked_before_downloading(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "free_space", lambda directory: 10 * KIB)
    result = cache_site.cache()
    assert "img-a needs 300.0 KiB more, but only 10.0 KiB are free" in result.err
    assert "1 downloaded, 0 expired, 1 failed" in result.out
    assert cache_site.server.hits("/images/img-a") == 0


def test_kill_9_during_a_download_then_the_next_run_resumes(cache_site: CacheSite) -> None:
    content = cache_site.contents["img-a"]
    cache_site.serve("img-a", content, rate=100 * KIB)
    process = _spawn(cache_site, "-j", "1")
    partial = cache_site.cache_dir / "partial" / "img-a"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size > 50 * KIB:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert_consistent(cache_site)
    kept = partial.stat().st_size
    assert 0 < kept < len(content)
    cache_site.serve("img-a", content)
    result = cache_site.cache()
    assert "Traceback" not in result.err
    assert result.out.startswith("2 downloaded") or result.out.startswith("1 downloaded")
    assert (cache_site.cache_dir / "img-a").read_bytes() == content
    resumed = _ranges(cache_site, "img-a")[-1]
    assert resumed[0] == f"bytes={kept}-"
    assert resumed[2] == len(content) - kept
    assert_consistent(cache_site)


def test_a_second_run_exits_at_once_or_waits(cache_site: CacheSite) -> None:
    cache_site.cache_dir.mkdir()
    lock = CacheLock(cache_site.cache_dir)
    assert lock.acquire()
    try:
        started = time.monotonic()
        result = cache_site.cache()
        assert result.code == 0
        assert result.out == ""
        assert result.err.strip() == (
            f"vmcatcher_cache: another run (pid {os.getpid()}) holds the cache "
            f"{cache_site.cache_dir}; nothing done"
        )
        assert time.monotonic() - started < 5
        assert cache_site.events() == []
        assert cache_site.cache("--wait", "0.3").err.count("another run") == 1
        threading.Timer(0.5, lock.release).start()
        result = cache_site.cache("--wait", "20")
        assert result.out.startswith("2 downloaded"), result.err
    finally:
        lock.release()


def test_two_concurrent_processes_never_corrupt_the_index(cache_site: CacheSite) -> None:
    cache_site.serve("img-a", cache_site.contents["img-a"], rate=400 * KIB)
    first = _spawn(cache_site)
    time.sleep(0.3)
    second = _spawn(cache_site)
    out2, err2 = second.communicate(timeout=60)
    out1, err1 = first.communicate(timeout=60)
    assert first.returncode == second.returncode == 0
    outputs = sorted([out1 + err1, out2 + err2])
    assert any("holds the cache" in text for text in outputs)
    assert any(text.startswith("2 downloaded") for text in outputs)
    assert_consistent(cache_site)


def test_a_hanging_handler_is_killed_at_the_timeout(cache_site: CacheSite, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = (
        f'if [ "$VMCATCHER_EVENT_TYPE" = AvailablePostfix ]; then sleep 300 & '
        f"echo $! >> {pidfile}; wait; fi"
    )
    started = time.monotonic()
    result = cache_site.cache("-x", command, "--handler-timeout", "0.5")
    assert time.monotonic() - started < 20
    assert result.out.startswith("2 downloaded")
    assert "2 event(s) failed; 2 event(s) pending" in result.out
    assert "killed after" in result.err
    for pid in pidfile.read_text().split():
        assert (
            not Path(f"/proc/{pid}").exists()
            or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
        )


def test_a_failed_event_is_sent_again_next_run_until_it_succeeds(cache_site: CacheSite) -> None:
    result = cache_site.cache(env={"HANDLER_EXIT": "3"})
    assert "6 event(s) failed; 4 event(s) pending" in result.out, "Process events are not kept"
    assert "exit code 3" in result.err
    outbox = json.loads((cache_site.cache_dir / ".vmcatcher_cache.outbox").read_text())
    assert sorted((r["metadata"]["dc:identifier"], r["type"]) for r in outbox) == [
        ("img-a", "AvailablePostfix"),
        ("img-a", "AvailablePrefix"),
        ("img-b", "AvailablePostfix"),
        ("img-b", "AvailablePrefix"),
    ]
    assert all("message" not in r["metadata"] for r in outbox)
    result = cache_site.cache(env={"HANDLER_EXIT": "1"})
    outbox = json.loads((cache_site.cache_dir / ".vmcatcher_cache.outbox").read_text())
    assert [r["attempts"] for r in outbox] == [2, 2, 2, 2]
    cache_site.clear_log()
    result = cache_site.cache()
    assert result.code == 0
    assert "pending" not in result.out
    resent = cache_site.event_types()
    assert resent[0] == ("ProcessPrefix", "")
    assert resent[-1] == ("ProcessPostfix", "")
    assert [kind for kind, _ in resent[1:-1]] == ["AvailablePrefix", "AvailablePostfix"] * 2
    assert sorted(resent[1:-1]) == [
        ("AvailablePostfix", "img-a"),
        ("AvailablePostfix", "img-b"),
        ("AvailablePrefix", "img-a"),
        ("AvailablePrefix", "img-b"),
    ]
    assert not (cache_site.cache_dir / ".vmcatcher_cache.outbox").exists()
    events = {
        e["VMCATCHER_EVENT_DC_IDENTIFIER"]: e
        for e in cache_site.events()
        if e["VMCATCHER_EVENT_TYPE"] == "AvailablePostfix"
    }
    assert events["img-a"]["VMCATCHER_EVENT_FILENAME"] == "img-a"
    assert events["img-a"]["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == _sha(
        cache_site.contents["img-a"]
    )


def test_events_for_a_handler_no_longer_configured_wait(cache_site: CacheSite) -> None:
    cache_site.cache(env={"HANDLER_EXIT": "1"})
    result = cache_site.cache("-x", "true")
    assert "4 event(s) wait for handler" in result.err
    assert "4 event(s) pending" in result.out
    with clean_environment():
        from imagelist.cli import vmcatcher_cache

        assert vmcatcher_cache.main(["-C", str(cache_site.cache_dir), "--drop-pending-events"]) == 0
    assert not (cache_site.cache_dir / ".vmcatcher_cache.outbox").exists()
