"""The one progress display of the commands, on a terminal (a renderer: text, no I/O of its own
beyond the stream it is given).

* :class:`ProgressDisplay`: several transfers at once, a bar per transfer under a header line,
  redrawn in place (``vmcatcher_cache``'s downloads);
* :class:`ProgressLine`: one transfer on one line (``vmcaster --upload-image``).

Both are hand-written (ADR 0018): a few lines of ANSI redraws, no dependency, flat memory and
CPU; ``tqdm``/``rich`` would add a dependency for the same output. :func:`human_bytes` is the one
byte-size formatter of the package.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .cache.jobs import Transfer

__all__ = [
    "ProgressDisplay",
    "ProgressLine",
    "human_bytes",
    "progress_line",
    "terminal_progress",
]

_BAR = 20


def human_bytes(count: float) -> str:
    """``1.5 GiB``, ``320.0 MiB``, ``12 B``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _duration(seconds: float | None) -> str:
    """``0:42``, ``1:02:03``; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(transfer: Transfer, title: str, now: float, width: int) -> str:
    """``<title> [####....]  45.0%  135.0 MiB/300.0 MiB  12.5 MiB/s  ETA 0:13``.

    The rate is this run's bytes over this run's time (a resumed download does not count the
    bytes it already had); the ETA is what is left at that rate.
    """
    size = max(transfer.size, 1)
    fraction = min(1.0, transfer.done / size)
    filled = int(fraction * _BAR)
    elapsed = max(now - transfer.started, 1e-6)
    rate = transfer.received / elapsed
    left = max(transfer.size - transfer.done, 0)
    eta = left / rate if rate > 0 else None
    tail = (
        f" [{'#' * filled}{'.' * (_BAR - filled)}] {fraction * 100:5.1f}% "
        f"{human_bytes(transfer.done):>9}/{human_bytes(transfer.size):<9} "
        f"{human_bytes(rate):>9}/s ETA {_duration(eta):>5}"
    )
    room = max(8, width - len(tail) - 1)
    name = " ".join(title.split()) or transfer.identifier
    if len(name) > room:
        name = name[: room - 1] + "…"
    return f"{name:<{room}}{tail}"


class ProgressDisplay:
    """Redraws, every ``interval``, a line ``images <done>/<total>`` and one line per active
    download (title, bar, bytes done/total, rate, ETA) on ``stream``, a terminal.

    Memory and CPU stay flat: one string per active download per redraw (at most ``--jobs``
    lines), whatever the size of the images or the number of images.
    """

    def __init__(
        self,
        stream: TextIO,
        transfers: Callable[[], list[Transfer]],
        *,
        titles: Mapping[str, str] | None = None,
        total: int = 0,
        interval: float = 0.25,
        width: int | None = None,
    ) -> None:
        self.stream = stream
        self.transfers = transfers
        self.titles = dict(titles or {})
        self.total = total
        self.completed = 0
        self.interval = interval
        self.width = width or shutil.get_terminal_size((100, 24)).columns
        self._lines = 0
        self._draw = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def lines(self) -> list[str]:
        """What is drawn now (without the terminal's control sequences)."""
        now = time.monotonic()
        active = sorted(self.transfers(), key=lambda transfer: transfer.identifier)
        shown = [f"images {self.completed}/{self.total} done, {len(active)} downloading"]
        for transfer in active:
            title = self.titles.get(transfer.identifier, transfer.identifier)
            shown.append(progress_line(transfer, title, now, self.width - 1))
        return shown

    def finished(self) -> None:
        """One download ended (verified or failed): count it and redraw."""
        self.completed += 1
        self.render()

    def render(self) -> None:
        """Draw the current lines over the previous ones."""
        with self._draw:  # the redraw thread and finished() both draw
            lines = self.lines()
            out = f"\x1b[{self._lines}F" if self._lines else ""  # back to the first line
            for line in lines:
                out += "\x1b[2K" + line + "\n"
            for _ in range(self._lines - len(lines)):
                out += "\x1b[2K\n"
            if self._lines > len(lines):
                out += f"\x1b[{self._lines - len(lines)}F"
            self._lines = len(lines)
            self.stream.write(out)
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.render()

    def start(self) -> None:
        """Start redrawing in the background."""
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and erase the bars."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._lines:
            self.stream.write(f"\x1b[{self._lines}F" + "\x1b[2K\n" * self._lines)
            self.stream.write(f"\x1b[{self._lines}F")
            self.stream.flush()
            self._lines = 0


class ProgressLine:
    """One transfer on one line of stderr (a terminal): percentage and rate, at most 4 times a
    second (``vmcaster --upload-image``)."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.start = time.monotonic()
        self.last = 0.0
        self.open = False

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.25 and done < self.total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-6) / 2**20
        percent = min(100, 100 * done // self.total)
        sys.stderr.write(f"\r{self.label}: {percent:3d}% {rate:8.1f} MiB/s")
        sys.stderr.flush()
        self.open = True

    def close(self) -> None:
        """End the line (the byte count may not reach the total, e.g. after compression)."""
        if self.open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.open = False


def terminal_progress(label: str, total: int) -> ProgressLine | None:
    """A progress line if stderr is a terminal."""
    if not sys.stderr.isatty() or total <= 0:
        return None
    return ProgressLine(label, total)
