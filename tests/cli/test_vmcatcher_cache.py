"""vmcatcher_cache's command line: options, environment, one-line errors, exit codes."""

from __future__ import annotations

import io
import os
import signal
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from imagelist.cache import CacheLock, ManagedDirectory
from imagelist.cache.index import atomic_write
from imagelist.cache.progress import ProgressDisplay, Summary, human_bytes
from imagelist.cli import vmcatcher_cache
from imagelist.errors import CacheError, CacheIndexError
from imagelist.events import Event, registry
from tests.cache.support import CacheSite, build_cache_site, clean_environment
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.conftest import server, sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import Site

RECEIVED: list[Event] = []


@pytest.fixture
def cache_site(
    sqlite_site: Site,  # noqa: F811
    server: HttpServer,  # noqa: F811
    test_pki: TestPki,
    tmp_path: Path,
) -> CacheSite:
    """img-a (300 KiB) and img-b (5 KiB), both subscribed."""
    sizes = {"img-a": 300 * 1024, "img-b": 5 * 1024}
    return build_cache_site(sqlite_site, server, test_pki.good, tmp_path, sizes)


def record(event: Event) -> None:
    """An in-process handler, as a cloud backend registers one."""
    RECEIVED.append(event)


def _main(*argv: str, env: dict[str, str] | None = None) -> int:
    with clean_environment():
        os.environ.update(env or {})
        return vmcatcher_cache.main(list(argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--max-tries", "-1"], "--max-tries must not be negative"),
        (["--expired-max-age", "-1"], "--expired-max-age must not be negative"),
        (["--read-timeout", "0"], "read_timeout must be positive"),
        (["--log-config", "/nonexistent.ini"], "does not exist"),
    ],
)
def test_usage_errors_are_one_line_exit_1(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _main(*argv, "-C", str(tmp_path / "c")) == 1
    err = capsys.readouterr().err
    assert err.startswith("vmcatcher_cache: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_bad_size_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main("--expired-max-size", "lots") == 1
    err = capsys.readouterr().err
    assert "invalid size 'lots'" in err
    assert err.endswith("(see vmcatcher_cache --help)\n")
    assert _main("--help") == 0
    out = capsys.readouterr().out
    assert "exit codes: 0 done" in out
    assert "VMCATCHER_CACHE_ACTION_DOWNLOAD" in out
    assert vmcatcher_cache._size("1.5G") == int(1.5 * 1024**3)
    assert vmcatcher_cache._size("2048") == 2048


def test_database_errors_are_exit_36(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = tmp_path / "old.db"
    import sqlite3

    with sqlite3.connect(legacy) as connection:
        connection.execute("CREATE TABLE subscription (id INTEGER PRIMARY KEY)")
    assert _main("-d", f"sqlite:///{legacy}", "-C", str(tmp_path / "c")) == 36
    assert "--migrate-legacy-db" in capsys.readouterr().err


def test_actions_from_options_and_environment() -> None:
    parser = vmcatcher_cache.build_parser()
    actions = vmcatcher_cache._actions
    assert actions(parser.parse_args([]), {}) == {"expire", "download"}
    assert actions(parser.parse_args(["-s"]), {}) == {"check"}
    assert actions(parser.parse_args(["-D"]), {}) == {"download", "expire"}
    assert actions(parser.parse_args([]), {"VMCATCHER_CACHE_ACTION_EXPIRE": "1"}) == {"expire"}
    assert actions(parser.parse_args([]), {"VMCATCHER_CACHE_ACTION_CHECK": "true"}) == {
        "expire",
        "download",
    }
    config = vmcatcher_cache._config(parser.parse_args(["-C", "/c/"]), {})
    assert (config.cache_dir, config.partial_dir, config.expired_dir) == (
        "/c/",
        "/c/partial",
        "/c/expired",
    )
    config = vmcatcher_cache._config(
        parser.parse_args(["-e", "/e"]),
        {"VMCATCHER_CACHE_DIR_CACHE": "/x", "VMCATCHER_CACHE_DIR_EXPIRE": "/y"},
    )
    assert (config.cache_dir, config.partial_dir, config.expired_dir) == (
        "/x",
        "/x/partial",
        "/e",
    )


def test_in_process_handlers_from_entry_points(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    point = EntryPoint("recorder", f"{__name__}:record", "imagelist.handlers")
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    RECEIVED.clear()
    result = cache_site.cache("--event-handler", "recorder", "-j", "1", handler=False)
    assert result.code == 0, result.err
    assert [str(e.type) for e in RECEIVED] == [
        "ProcessPrefix",
        "AvailablePrefix",
        "AvailablePostfix",
        "AvailablePrefix",
        "AvailablePostfix",
        "ProcessPostfix",
    ]
    assert RECEIVED[2].metadata["filename"] == "img-a"
    assert RECEIVED[2].extra["VMCATCHER_CACHE_DIR_CACHE"] == str(cache_site.cache_dir)
    assert len({e.session for e in RECEIVED}) == 1
    result = cache_site.cache("--event-handler", "missing", handler=False)
    assert result.code == 1
    assert "no event handler named 'missing'" in result.err


def test_quiet_prints_only_failures_and_cert_dir_must_exist(
    cache_site: CacheSite, tmp_path: Path
) -> None:
    assert cache_site.cache("-q").out == ""
    cache_site.describe("img-b", b"new", uri=cache_site.server.url("/missing"))
    cache_site.publish("2.0")
    result = cache_site.cache("-q")
    assert result.code == 40
    assert result.out.startswith("0 downloaded, 0 expired, 1 failed (img-b)"), "old one kept"
    result = cache_site.cache("-c", str(tmp_path / "nonexistent"))
    assert result.code == 1
    assert "trust directory" in result.err


def test_trust_directory_is_used_for_https(cache_site: CacheSite) -> None:
    result = cache_site.cache("-c", str(cache_site.site.trust_dir))
    assert result.out.startswith("2 downloaded")


def test_progress_bars_on_a_terminal(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    cache_site.serve("img-a", cache_site.contents["img-a"], rate=400 * 1024)
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr("sys.stdout", Terminal())  # bars only when both are terminals
    with clean_environment():
        code = vmcatcher_cache.main(
            ["-d", cache_site.site.database, "-C", str(cache_site.cache_dir)]
        )
    assert code == 0
    drawn = terminal.getvalue()
    assert "img-a" in drawn
    assert "%" in drawn
    assert "\x1b[2K" in drawn


def test_progress_display_and_summary() -> None:
    from imagelist.cache.download import Transfer

    out = io.StringIO()
    transfers = [Transfer("a-very-long-image-identifier-" * 4, 1000, done=500, received=500)]
    display = ProgressDisplay(out, lambda: transfers, width=60)
    display.render()
    transfers.clear()
    display.render()
    display.stop()
    assert "50.0%" in out.getvalue()
    assert "…" in out.getvalue()
    assert human_bytes(5) == "5 B"
    assert human_bytes(3 * 1024**4) == "3.0 TiB"
    summary = Summary(downloaded=1, received=2048, seconds=2, corrupt=1, pruned=2)
    assert summary.line() == (
        "1 downloaded, 0 expired, 0 failed, 2.0 KiB in 2.0 s (1.0 KiB/s); 1 corrupt; "
        "2 pruned from expired/"
    )
    assert Summary().rate == 0


def test_sigterm_interrupts_cleanly() -> None:
    with pytest.raises(KeyboardInterrupt):
        vmcatcher_cache._terminate(signal.SIGTERM, None)


def test_index_and_lock_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CacheError, match="cannot create directory"):
        ManagedDirectory(blocker / "sub").create()
    directory = ManagedDirectory(tmp_path / "d")
    directory.create()
    directory.index_path.mkdir()
    with pytest.raises(CacheIndexError, match="cannot read"):
        directory.load()
    with pytest.raises(CacheError, match="cannot write"):
        atomic_write(tmp_path / "missing" / "x", b"")
    with pytest.raises(CacheError, match="cannot open lock file"):
        CacheLock(tmp_path / "missing").acquire()
    lock = CacheLock(tmp_path)
    assert lock.holder() == "unknown"
    with lock:
        assert lock.acquire()
    (tmp_path / ".vmcatcher_cache.lock").write_text("garbage")
    assert lock.holder() == "unknown"
    with pytest.raises(CacheError, match="cannot list"):
        list(ManagedDirectory(tmp_path / "nope").files())


# --- issue 10 §3: exit codes that tell the truth ------------------------------------------------


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("/nonexistent/handler --flag", "event handler /nonexistent/handler (-x) does not exist"),
        (
            "vmcatcher-handler-typo $VMCATCHER_EVENT_TYPE",
            "event handler 'vmcatcher-handler-typo' (-x) is not an executable file on PATH",
        ),
        ("LANG=C /nonexistent/h", "event handler /nonexistent/h (-x) does not exist"),
    ],
)
def test_an_event_command_that_cannot_run_is_exit_78_before_any_download(
    cache_site: CacheSite, command: str, message: str
) -> None:
    result = cache_site.cache("-x", command)
    assert result.code == 78
    assert result.err == f"vmcatcher_cache: error: {message}\n"
    assert result.out == ""
    assert cache_site.server.hits("/images/img-a") == 0
    assert not cache_site.cache_dir.exists()


def test_a_handler_that_is_not_executable_or_a_directory(
    cache_site: CacheSite, tmp_path: Path
) -> None:
    script = tmp_path / "handler.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    result = cache_site.cache("-x", f"{script} arg")
    assert (result.code, result.err) == (
        78,
        f"vmcatcher_cache: error: event handler {script} (-x) is not executable\n",
    )
    result = cache_site.cache(
        handler=False, env={"VMCATCHER_CACHE_EVENT": str(tmp_path), "VMCATCHER_RDBMS": "x"}
    )
    assert result.code == 78
    assert f"{tmp_path} (VMCATCHER_CACHE_EVENT) is not a regular file" in result.err
    script.chmod(0o755)
    assert cache_site.cache("-x", f"{script} arg").code == 0


def test_shell_text_is_left_to_the_shell() -> None:
    from imagelist.cache.handler_check import first_command_word

    assert first_command_word("/usr/bin/handler --x") == "/usr/bin/handler"
    assert first_command_word("FOO=1 BAR=2 handler") == "handler"
    assert first_command_word('logger -t vmcatcher "$VMCATCHER_EVENT_TYPE"') == "logger"
    for shell_text in ('if [ "$A" = b ]; then x; fi', "$HANDLER", "(cd /x && ./h)", "'quoted h'"):
        assert first_command_word(shell_text) is None, shell_text


def test_events_that_fail_exit_41_and_failed_images_win_with_40(cache_site: CacheSite) -> None:
    result = cache_site.cache(env={"HANDLER_EXIT": "3"})
    assert result.code == 41
    assert result.out.startswith("2 downloaded, 0 expired, 0 failed")
    assert "; 6 event(s) failed; 4 event(s) pending" in result.out
    cache_site.server.remove("/images/img-b")
    cache_site.describe("img-b", b"other", uri=cache_site.server.url("/images/img-b"))
    cache_site.publish("2.0")
    result = cache_site.cache("--retries", "0", env={"HANDLER_EXIT": "3"})
    assert result.code == 40, "images before events"
    assert "1 failed (img-b)" in result.out
    assert "event(s) failed" in result.out
    assert cache_site.cache("-q", "-x", "true").code == 40, "img-b still fails"


def test_the_epilog_documents_the_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main("--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("40 an image failed", "41 an event handler failed", "78 the event command"):
        assert phrase in text
