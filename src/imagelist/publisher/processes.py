"""The programs a transport runs (``scp``, ``ssh``, ``dccp``, an admin's command): argument
vectors, never a shell; one line naming the program when it fails; SIGTERM turned into
KeyboardInterrupt meanwhile, so that partial uploads are cleaned up (:mod:`.transports`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import shlex
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence

from ..errors import UploadFailedError

__all__ = ["expand_template", "interrupt_on_sigterm"]

logger = logging.getLogger("imagelist.publisher.transports")

_PLACEHOLDER = re.compile(r"\{(src|dest)\}")


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt meanwhile, so partial uploads are cleaned up."""

    def _interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def expand_template(template: Sequence[str], src: str, dest: str) -> list[str]:
    """Substitute ``{src}``/``{dest}`` in each argument, in one pass.

    The values are inserted as they are and never scanned again, so a file name containing
    ``{dest}`` stays that file name.
    """
    values = {"src": src, "dest": dest}
    return [_PLACEHOLDER.sub(lambda match: values[match.group(1)], item) for item in template]


def _temporary_name(target: str) -> str:
    return f"{target}.tmp-{secrets.token_hex(4)}"


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no error output"


def _run(
    argv: Sequence[str], what: str, env: Mapping[str, str]
) -> subprocess.CompletedProcess[bytes]:
    """Run one program (no shell) in the environment ``env`` (the command's, passed down);
    raise UploadFailedError naming ``what`` if it fails."""
    logger.info("running %s", shlex.join(argv))
    try:
        result = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            env=dict(env),
        )
    except OSError as exc:
        raise UploadFailedError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from None
    if result.returncode != 0:
        logger.debug("%s stderr: %s", argv[0], result.stderr.decode("utf-8", "replace"))
        raise UploadFailedError(
            f"{what}: {argv[0]} exited with {result.returncode}: {_last_line(result.stderr)}"
        )
    return result


def _best_effort(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Clean up after a failure; a failure here is only logged."""
    try:
        _run(argv, "clean-up", env)
    except UploadFailedError as exc:
        logger.warning("%s", exc)
