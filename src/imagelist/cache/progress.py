"""What a person sees: a progress bar per download on a terminal, and the summary line.

The display is hand-written (ADR 0018): two dozen lines of ANSI redraws, no dependency, flat
memory and CPU; ``tqdm``/``rich`` would add a dependency for the same output.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from ..errors import EXIT_EVENTS_FAILED, EXIT_IMAGES_FAILED
from .jobs import Transfer

__all__ = ["ImageResult", "ProgressDisplay", "Summary", "human_bytes"]

_BAR = 20
#: Image ids named in the summary line (the log has them all).
_NAMED = 5


def human_bytes(count: float) -> str:
    """``1.5 GiB``, ``320.0 MiB``, ``12 B``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _names(identifiers: list[str]) -> str:
    shown = ", ".join(identifiers[:_NAMED])
    if len(identifiers) > _NAMED:
        shown += f", … {len(identifiers) - _NAMED} more"
    return f" ({shown})"


@dataclass(frozen=True)
class ImageResult:
    """Something that happened to one image in a run (``vmcatcher_cache -f json``'s ``images``).

    ``result`` is ``downloaded``, ``expired``, ``failed``, ``corrupt``, ``given_up`` or
    ``pruned``; ``error`` says why for ``failed``, ``corrupt`` and ``given_up``.
    """

    identifier: str
    result: str
    error: str | None = None


@dataclass
class Summary:
    """Counts of one run, for the last line, and the exit code they make."""

    downloaded: int = 0
    expired: int = 0
    failed: int = 0
    corrupt: int = 0
    gave_up: int = 0
    pruned: int = 0
    received: int = 0
    seconds: float = 0.0
    events_failed: int = 0
    events_pending: int = 0
    #: Events given up after their attempts (dead letters; see imagelist.events.outbox).
    events_dead: int = 0
    errors: list[str] = field(default_factory=list)
    #: Images that failed this run (download, verification, or a step of their own).
    failed_images: list[str] = field(default_factory=list)
    #: Images given up until a new list arrives (``--max-tries`` failed tries).
    given_up: list[str] = field(default_factory=list)
    #: The exit code of the worst error an image's step raised (1 cache, 70 internal), or 0.
    fatal: int = 0
    #: What happened to each image, in order (an image may appear more than once).
    images: list[ImageResult] = field(default_factory=list)

    def note(self, identifier: str, result: str, error: str | None = None) -> None:
        """Record what happened to one image (the counters are kept by the callers)."""
        self.images.append(ImageResult(identifier, result, error))

    @property
    def rate(self) -> float:
        """Bytes per second over the run."""
        return self.received / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0, or the worst: a fatal step (1, 70), then images (40), then events (41)."""
        if self.fatal:
            return self.fatal
        if self.failed or self.gave_up:
            return EXIT_IMAGES_FAILED
        if self.events_failed or self.events_dead:
            return EXIT_EVENTS_FAILED
        return 0

    def line(self) -> str:
        """``2 downloaded, 1 expired, 0 failed, 1.0 GiB in 3.2 s (320.0 MiB/s)`` and extras.

        The images that failed and those given up are named (the first few).
        """
        failed = f"{self.failed} failed"
        if self.failed_images:
            failed += _names(self.failed_images)
        text = ", ".join([f"{self.downloaded} downloaded", f"{self.expired} expired", failed])
        text += f", {human_bytes(self.received)} in {self.seconds:.1f} s"
        text += f" ({human_bytes(self.rate)}/s)"
        given_up = "given up until the list changes"
        if self.given_up:
            given_up += _names(self.given_up)
        extras = [
            (self.corrupt, "corrupt"),
            (self.gave_up, given_up),
            (self.pruned, "pruned from expired/"),
            (self.events_failed, "event(s) failed"),
            (self.events_pending, "event(s) pending"),
            (self.events_dead, "dead letter(s)"),
        ]
        for count, what in extras:
            if count:
                text += f"; {count} {what}"
        return text


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
