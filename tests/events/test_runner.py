"""The handler runner: /bin/sh -c with values only in the environment, and a timeout that works."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from imagelist.events import CallableHandler, Event, EventType, ShellHandler

HOSTILE = "$(touch PWNED); `touch PWNED2`; rm -rf / # 'quote\" \\ newline\nend"


def _event(**metadata: object) -> Event:
    return Event(EventType.SUBSCRIPTION_IMAGE_NEW, metadata, "session-1")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state


def test_values_reach_the_handler_only_through_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    command = (
        f"cd {tmp_path} && python3 -c 'import json, os, sys; "
        f'json.dump({{"argv": sys.argv, "env": dict(os.environ)}}, open("{out}", "w"))\''
    )
    result = ShellHandler(command, timeout=30, environ=os.environ)(
        _event(**{"dc:title": HOSTILE, "sl:os": ""})
    )
    assert result.ok, result.describe()
    seen = json.loads(out.read_text())
    assert seen["env"]["VMCATCHER_EVENT_DC_TITLE"] == HOSTILE
    assert "VMCATCHER_EVENT_SL_OS" not in seen["env"]
    assert seen["env"]["VMCATCHER_EVENT_TYPE"] == "SubscriptionImageNew"
    assert seen["env"]["VMCATCHER_EVENT_UUID_SESSION"] == "session-1"
    assert HOSTILE not in " ".join(seen["argv"])
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "PWNED2").exists()


def test_the_command_string_is_the_admins_and_may_use_the_shell(tmp_path: Path) -> None:
    out = tmp_path / "out"
    handler = ShellHandler(
        f'echo "$VMCATCHER_EVENT_TYPE:$VMCATCHER_EVENT_DC_IDENTIFIER" > {out}', environ=os.environ
    )
    assert handler(_event(**{"dc:identifier": "img-1"})).ok
    assert out.read_text() == "SubscriptionImageNew:img-1\n"


def test_failure_is_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    result = ShellHandler("echo to-out; echo to-err >&2; exit 3", environ=os.environ)(
        _event(**{"dc:identifier": "x"})
    )
    assert not result.ok
    assert result.returncode == 3
    assert result.stdout == "to-out\n"
    assert result.stderr == "to-err\n"
    assert result.describe().endswith("exit code 3")
    assert "failed" in caplog.text
    assert "to-err" in caplog.text


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"sleep 300 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    result = ShellHandler(command, timeout=0.5, grace=2, environ=os.environ)(_event())
    assert time.monotonic() - started < 5
    assert result.timed_out
    assert not result.ok
    assert "timeout" in result.describe()
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the backgrounded grandchild was killed too"


def test_a_handler_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"trap '' TERM; sleep 300 & echo $! > {pidfile}; wait; wait"
    started = time.monotonic()
    result = ShellHandler(command, timeout=0.3, grace=0.3, environ=os.environ)(_event())
    assert result.timed_out
    assert time.monotonic() - started < 5
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_background_leftover_does_not_block_the_run(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = ShellHandler(
        f"sleep 30 & echo $! > {pidfile}; exit 0", timeout=20, environ=os.environ
    )(_event())
    assert result.ok
    assert time.monotonic() - started < 5
    os.kill(int(pidfile.read_text()), 9)


def test_output_is_kept_to_its_tail() -> None:
    result = ShellHandler("head -c 200000 /dev/zero | tr '\\0' a; echo END", environ=os.environ)(
        _event()
    )
    assert result.ok
    assert len(result.stdout) == 64 * 1024
    assert result.stdout.endswith("END\n")


def test_cannot_start_the_shell(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(subprocess, "Popen", broken)
    result = ShellHandler("true", environ=os.environ)(_event(**{"dc:identifier": "img-9"}))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("cannot start /bin/sh: No such file or directory (argv and ")
    assert result.describe().startswith("true: cannot start /bin/sh: No such file or directory")
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage().startswith(
        "event SubscriptionImageNew for img-9 failed: true: cannot start /bin/sh: "
        "No such file or directory (argv and environment: "
    )


def test_empty_command_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ShellHandler("  ", environ=os.environ)


def test_callable_handlers() -> None:
    seen: list[Event] = []
    assert CallableHandler("ok", seen.append)(_event()).ok
    assert seen[0].type is EventType.SUBSCRIPTION_IMAGE_NEW
    assert not CallableHandler("no", lambda event: False)(_event()).ok

    def boom(event: Event) -> None:
        raise RuntimeError("cloud\nunreachable")

    result = CallableHandler("boom", boom)(_event())
    assert not result.ok
    assert result.error == "RuntimeError: cloud unreachable"


def test_an_in_process_handler_that_never_answers_times_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    calls: list[str] = []

    def stuck(event: Event) -> bool:
        calls.append(str(event.type))
        release.wait(30)
        return True

    handler = CallableHandler("stuck", stuck, timeout=0.3)
    started = time.monotonic()
    result = handler(_event(**{"dc:identifier": "img-1"}))
    assert time.monotonic() - started < 5
    assert result.timed_out
    assert not result.ok
    assert result.describe() == "stuck: no answer after 0.3 s (timeout); abandoned"
    assert "event SubscriptionImageNew for img-1 failed: stuck: no answer" in caplog.text
    # while the abandoned call runs, the handler takes no other event
    busy = handler(Event(EventType.PROCESS_POSTFIX))
    assert not busy.ok
    assert busy.error is not None
    assert busy.error.startswith("not started: still busy with a SubscriptionImageNew event")
    assert calls == ["SubscriptionImageNew"]
    release.set()
    deadline = time.monotonic() + 5
    while handler._abandoned is not None and handler._abandoned.thread.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert handler(Event(EventType.PROCESS_POSTFIX)).ok
    assert calls == ["SubscriptionImageNew", "ProcessPostfix"]
