"""What a run would do (``--dry-run``) and where each image stands (``--status``).

Both read the indexes and the database and write nothing; no event is sent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import ImageListError
from .attempts import failed_tries, is_given_up, last_error
from .plan import entry_sha512, plan_downloads, plan_expiry

if TYPE_CHECKING:
    from .cache import CacheRun

__all__ = ["dry_run_lines", "status_lines"]


def _load(run: CacheRun) -> list[str]:
    """Load what exists; the directories that would be created."""
    missing = []
    for directory in run.directories():
        if directory.path.is_dir():
            directory.load()
        else:
            missing.append(str(directory.path))
    return missing


def _have(run: CacheRun, identifier: str) -> int:
    with contextlib.suppress(OSError):
        return os.lstat(run.partial.path / identifier).st_size  # never through a link
    return 0


def dry_run_lines(run: CacheRun) -> Iterator[str]:
    """Tab-separated lines saying what a run would do.

    ``create DIR``, ``resend TYPE ID HANDLER``, ``expire ID REASON``, ``check ID``,
    ``download ID SIZE HAVE URI`` (``replace`` when an older version is cached and stays in
    service until then), ``given-up ID FAILED-ATTEMPTS LAST-ERROR``.
    """
    for path in _load(run):
        yield f"create\t{path}"
    with contextlib.suppress(ImageListError):
        run.outbox.load()
    for record in run.outbox.pending:
        yield f"resend\t{record.type}\t{record.identifier}\t{record.handler}"
    actions = run.config.actions
    entries = dict(run.cache.entries)
    if "expire" in actions:
        for expiry in plan_expiry(entries, run.wanted()):
            yield f"expire\t{expiry.key}\t{expiry.reason}"
            entries.pop(expiry.key, None)
    if "check" in actions:
        for key in sorted(entries):
            yield f"check\t{key}"
    if "download" in actions:
        for image in plan_downloads(entries, run.wanted()):
            pending = run.partial.entries.get(image.identifier)
            count = failed_tries(pending, image.msg_hash)
            if entry_sha512(pending or {}) == image.sha512 and is_given_up(
                count, run.config.max_tries
            ):
                yield f"given-up\t{image.identifier}\t{count}\t{last_error(pending)}"
                continue
            what = "replace" if image.identifier in entries else "download"
            have = _have(run, image.identifier)
            yield f"{what}\t{image.identifier}\t{image.size}\t{have}\t{image.uri}"


def status_lines(run: CacheRun) -> tuple[list[str], bool]:
    """One ``ID<TAB>STATE<TAB>DETAIL`` line per wanted or cached image; and whether any is
    given up.

    States: ``cached``, ``download`` / ``replace`` (not yet downloaded; ``replace``: an older
    version is cached and in service), ``given-up`` (after ``--max-tries`` failed attempts for
    this list version, until a new list or ``--reset-tries``), ``expire`` (cached, no longer
    wanted: the next run retires it).
    """
    _load(run)
    wanted = run.wanted()
    entries = run.cache.entries
    lines: list[str] = []
    given_up = False
    to_download = {image.identifier for image in plan_downloads(entries, wanted)}
    for key, image in wanted.items():
        if key not in to_download:
            lines.append(f"{key}\tcached\t{image.size} bytes")
            continue
        pending = run.partial.entries.get(key)
        count = failed_tries(pending, image.msg_hash)
        if entry_sha512(pending or {}) != image.sha512:
            count = 0
        older = "; an older version is cached and in service" if key in entries else ""
        if is_given_up(count, run.config.max_tries):
            given_up = True
            lines.append(
                f"{key}\tgiven-up\t{count} failed attempts (last: {last_error(pending)}){older}; "
                f"vmcatcher_cache --reset-tries {key} tries again"
            )
            continue
        what = "replace" if key in entries else "download"
        detail = f"{_have(run, key)} of {image.size} bytes in partial/"
        if count:
            detail += f"; {count} failed attempt(s) (last: {last_error(pending)})"
        lines.append(f"{key}\t{what}\t{detail}{older}")
    for key in entries:
        if key not in wanted:
            lines.append(f"{key}\texpire\tnot subscribed or no longer available")
    return lines, given_up
