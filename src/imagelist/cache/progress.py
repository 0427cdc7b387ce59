"""What a ``vmcatcher_cache`` run reports: the summary line, its counts and exit code.

The progress bars drawn while it runs are :class:`imagelist.progress.ProgressDisplay` (the one
progress display of the commands), re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import EXIT_EVENTS_FAILED, EXIT_IMAGES_FAILED
from ..progress import ProgressDisplay, human_bytes, progress_line

__all__ = ["ImageResult", "ProgressDisplay", "Summary", "human_bytes", "progress_line"]

#: Image ids named in the summary line (the log has them all).
_NAMED = 5


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
