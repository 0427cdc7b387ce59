"""What a person sees: a progress bar per download on a terminal, and the summary line."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from ..errors import EXIT_EVENTS_FAILED, EXIT_IMAGES_FAILED
from .download import Transfer

__all__ = ["ProgressDisplay", "Summary", "human_bytes"]

_BAR = 24
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


def _bar(transfer: Transfer, now: float, width: int) -> str:
    size = max(transfer.size, 1)
    fraction = min(1.0, transfer.done / size)
    filled = int(fraction * _BAR)
    elapsed = max(now - transfer.started, 1e-6)
    rate = transfer.received / elapsed
    name = transfer.identifier
    room = max(8, width - _BAR - 44)
    if len(name) > room:
        name = name[: room - 1] + "…"
    return (
        f"{name:<{room}} [{'#' * filled}{'.' * (_BAR - filled)}] {fraction * 100:5.1f}% "
        f"{human_bytes(transfer.done):>10} {human_bytes(rate):>10}/s"
    )


class ProgressDisplay:
    """Redraws one line per active download on ``stream`` (a terminal) every ``interval``."""

    def __init__(
        self,
        stream: TextIO,
        transfers: Callable[[], list[Transfer]],
        *,
        interval: float = 0.25,
        width: int = 100,
    ) -> None:
        self.stream = stream
        self.transfers = transfers
        self.interval = interval
        self.width = width
        self._lines = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def render(self) -> None:
        """Draw the current bars over the previous ones."""
        now = time.monotonic()
        lines = [_bar(transfer, now, self.width) for transfer in self.transfers()]
        out = ""
        if self._lines:
            out += f"\x1b[{self._lines}F"  # back to the first line drawn last time
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
