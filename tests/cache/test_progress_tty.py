"""Issue 11 §7: progress you can read, on a real pseudo-terminal; Ctrl-C says what it kept.

The real vmcatcher_cache runs as a process whose stdout and stderr are a pty (what a person at a
terminal has), fed by the test server at a limited rate so the display has something to show.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from imagelist.cache.download import Transfer
from imagelist.cache.progress import ProgressDisplay
from tests.cache.support import CacheSite

KIB = 1024
RUN = "import sys; from imagelist.cli.vmcatcher_cache import main; sys.exit(main())"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _argv(site: CacheSite, *args: str) -> list[str]:
    return [
        sys.executable, "-c", RUN, "-d", site.site.database, "-C", str(site.cache_dir),
        "-x", site.handler, *args,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMCATCHER_")}
    env["COLUMNS"] = "120"
    return env


def _read_all(fd: int, process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """Everything written to the pty until the process exits."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                break
            data += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    return data.decode("utf-8", errors="replace")


def _on_pty(site: CacheSite, *args: str, stdout_tty: bool = True) -> tuple[int, str, str]:
    """Run vmcatcher_cache with stderr (and stdout) on a pty; (code, pty text, piped stdout)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        _argv(site, *args),
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave,
        env=_env(),
    )
    os.close(slave)
    try:
        drawn = _read_all(master, process)
        piped = process.stdout.read().decode() if process.stdout else ""
    finally:
        os.close(master)
    return process.returncode, drawn, piped


def test_the_display_on_a_pty_shows_title_done_total_rate_and_eta(cache_site: CacheSite) -> None:
    cache_site.serve("img-a", cache_site.contents["img-a"], rate=100 * KIB)  # about 3 s
    code, drawn, _ = _on_pty(cache_site, "-j", "1")
    assert code == 0, drawn
    lines = [line for line in ANSI.sub("\n", drawn).splitlines() if "ETA" in line]
    assert lines, drawn
    middle = [line for line in lines if "Image img-a" in line and "300.0 KiB" in line]
    assert middle, lines  # the image's title, not only its id
    line = middle[len(middle) // 2]
    assert re.search(r"\d+\.\d KiB/300\.0 KiB", line), line  # done/total
    assert re.search(r"\d+\.\d KiB/s", line), line  # rate
    assert re.search(r"ETA +\d+:\d\d", line), line  # time left
    assert re.search(r"images \d/2 done", ANSI.sub("\n", drawn)), "images done/total"
    assert "2 downloaded" in drawn, "the summary line after the bars"


def test_no_progress_without_a_terminal(cache_site: CacheSite) -> None:
    cache_site.serve("img-a", cache_site.contents["img-a"], rate=400 * KIB)
    piped = subprocess.run(
        _argv(cache_site), capture_output=True, text=True, env=_env(), timeout=120, check=False
    )
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stderr + piped.stdout
    assert "ETA" not in piped.stderr
    (cache_site.cache_dir / "cache" / "img-a").unlink(missing_ok=True)
    for path in cache_site.cache_dir.rglob("*"):
        if path.is_file() and path.name != ".lock":
            path.unlink()
    # stderr on a terminal but stdout redirected (a script or cron capturing the output)
    code, drawn, out = _on_pty(cache_site, stdout_tty=False)
    assert code == 0, drawn
    assert "\x1b[" not in drawn
    assert "ETA" not in drawn
    assert out.startswith("2 downloaded")


def test_ctrl_c_mid_download_keeps_the_partial_file_and_the_next_run_resumes(
    cache_site: CacheSite,
) -> None:
    content = cache_site.contents["img-a"]
    cache_site.serve("img-a", content, rate=30 * KIB)  # 10 s
    partial = cache_site.cache_dir / "partial" / "img-a"
    process = subprocess.Popen(
        _argv(cache_site, "-j", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        not partial.exists() or partial.stat().st_size < 60 * KIB
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.count("\n") == 1, err
    assert err == "vmcatcher_cache: interrupted; partial file kept: the next run resumes (img-a)\n"
    kept = partial.stat().st_size
    assert 60 * KIB <= kept < len(content), "the partial file is kept, mid-download"
    assert not (cache_site.cache_dir / "img-a").exists()
    assert "Traceback" not in err + out

    cache_site.serve("img-a", content)  # full speed now
    requests_before = len(cache_site.server.requests)
    result = cache_site.cache()
    assert result.code == 0, result.err
    assert result.out.startswith("2 downloaded"), result.out  # img-a and the small img-b
    assert (cache_site.cache_dir / "img-a").read_bytes() == content
    ranges = [
        r.headers.get("Range")
        for r in cache_site.server.requests[requests_before:]
        if r.path.endswith("img-a")
    ]
    assert ranges == [f"bytes={kept}-"], "resumed from the kept bytes, not from zero"


def test_ctrl_c_with_nothing_partial_says_so(tmp_path: Path) -> None:
    """The line never claims a partial file that is not there (none, or an empty one)."""
    from imagelist.cli._cache_output import interrupted_line

    (tmp_path / "img-b").write_bytes(b"")
    partial = SimpleNamespace(path=tmp_path, entries={"img-a": {}, "img-b": {}})
    line = interrupted_line("vmcatcher_cache", SimpleNamespace(partial=partial))  # type: ignore[arg-type]
    assert line == "vmcatcher_cache: interrupted; no partial file to keep"
    (tmp_path / "img-a").write_bytes(b"x")
    line = interrupted_line("vmcatcher_cache", SimpleNamespace(partial=partial))  # type: ignore[arg-type]
    assert line.endswith("partial file kept: the next run resumes (img-a)")


def test_the_display_redraws_in_place_with_flat_output() -> None:
    """Each redraw is a bounded number of lines, whatever the number of redraws."""
    out = io.StringIO()
    transfers = [Transfer("img-a", 10 * KIB**3, done=KIB**3, received=KIB**3)]
    display = ProgressDisplay(
        out, lambda: transfers, titles={"img-a": "Alma\tLinux 9"}, total=3, width=100
    )
    display.render()
    first = len(out.getvalue())
    for _ in range(100):
        display.render()
    per_redraw = (len(out.getvalue()) - first) / 100
    assert per_redraw < 2 * first, "a redraw replaces the lines, it does not add up"
    text = ANSI.sub("\n", out.getvalue())
    assert "Alma Linux 9" in text, "tabs in a title do not break the line"
    assert "1.0 GiB/10.0 GiB" in text
    assert "images 0/3 done, 1 downloading" in text
    display.finished()
    assert "images 1/3 done" in ANSI.sub("\n", out.getvalue())
    display.stop()
