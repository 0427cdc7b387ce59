"""Run event handlers: the admin's shell command, or in-process handlers.

The command string is the admin's (``-x``, ``VMCATCHER_SUB_EVENT``, ``VMCATCHER_CACHE_EVENT``)
and runs as ``/bin/sh -c CMD``, as vmcatcher did, so existing handler lines keep working. Values
from image lists never reach the command line: they are only in the handler's environment.

Unlike vmcatcher 0.6 (defect D13, a "10 s timeout" that never fired), the timeout works: the
handler runs in its own session and process group, and at the timeout the whole group gets
SIGTERM, then SIGKILL after a grace period. Output goes to temporary files (not pipes), so a
handler that leaves a background process behind cannot block the run, and a chatty one cannot
fill memory; the last 64 KiB of each stream are kept for the log. A handler that cannot be
started (``execve`` fails, e.g. E2BIG "Argument list too long") is a failed event, logged with
the cause and the size of its environment.

In-process handlers (issue 17 §4) get the same timeout: each call runs in a worker thread; at the
timeout the event fails as timed out and the thread is abandoned (a Python thread cannot be
killed; the cloud clients' own connect/read timeouts end it later). Until it ends, further events
for that handler fail at once ("still busy"), so two calls to one cloud never overlap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from .defaults import DEFAULT_HANDLER_TIMEOUT
from .model import Event, environment_size, handler_environment

__all__ = [
    "DEFAULT_HANDLER_TIMEOUT",
    "CallableHandler",
    "HandlerResult",
    "ShellHandler",
]

logger = logging.getLogger(__name__)

_KEEP = 64 * 1024


@dataclass(frozen=True)
class HandlerResult:
    """How one handler took one event. ``ok`` only if it ran, in time, and succeeded."""

    handler: str
    event: Event
    returncode: int | None = 0
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """The handler ran, in time, and succeeded."""
        return self.returncode == 0 and not self.timed_out and self.error is None

    def describe(self) -> str:
        """One line for logs and summaries."""
        if self.error is not None:
            return f"{self.handler}: {self.error}"
        if self.timed_out:
            return f"{self.handler}: killed after {self.seconds:.0f} s (timeout)"
        return f"{self.handler}: exit code {self.returncode}"


def _tail(handle: IO[bytes]) -> str:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - _KEEP))
    return handle.read().decode("utf-8", errors="replace")


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def log_result(result: HandlerResult) -> None:
    """Log as vmcatcher did: success at debug, failure at error with the output at info."""
    if result.ok:
        logger.debug("event %s: %s succeeded", result.event.type, result.handler)
        return
    logger.error(
        "event %s for %s failed: %s",
        result.event.type,
        result.event.identifier or "-",
        result.describe(),
    )
    if result.stdout:
        logger.info("handler stdout: %s", result.stdout.rstrip())
    if result.stderr:
        logger.info("handler stderr: %s", result.stderr.rstrip())


class ShellHandler:
    """The admin's command, run as ``/bin/sh -c CMD`` with the event in its environment."""

    def __init__(
        self,
        command: str,
        *,
        timeout: float = DEFAULT_HANDLER_TIMEOUT,
        grace: float = 5.0,
        environ: Mapping[str, str],
    ) -> None:
        if not command.strip():
            raise ValueError("empty handler command")
        self.command = command
        self.name = command
        self.timeout = timeout
        self.grace = grace
        self.environ = environ

    def __call__(self, event: Event) -> HandlerResult:
        argv = ["/bin/sh", "-c", self.command]
        env = handler_environment(event, self.environ, argv=argv)
        started = time.monotonic()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                process = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                size = environment_size(env, argv)
                result = HandlerResult(
                    self.name,
                    event,
                    None,
                    error=f"cannot start /bin/sh: {exc.strerror or exc} "
                    f"(argv and environment: {size} bytes in {len(env)} variables)",
                )
                log_result(result)
                return result
            timed_out = False
            try:
                returncode = process.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=self.grace)
                _kill_group(process.pid, signal.SIGKILL)  # whatever is left of the group
                returncode = process.wait()
            result = HandlerResult(
                self.name,
                event,
                returncode,
                timed_out=timed_out,
                stdout=_tail(out),
                stderr=_tail(err),
                seconds=time.monotonic() - started,
            )
        log_result(result)
        return result


class _Call:
    """One call of an in-process handler in a daemon worker thread."""

    def __init__(self, name: str, function: Callable[[Event], Any], event: Event) -> None:
        self.event = event
        self.started = time.monotonic()
        self.outcome: Any = None
        self.exception: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, args=(function,), name=f"event handler {name}", daemon=True
        )
        self.thread.start()

    def _run(self, function: Callable[[Event], Any]) -> None:
        try:
            self.outcome = function(self.event)
        except BaseException as exc:  # reported as the event's failure
            self.exception = exc


class CallableHandler:
    """An in-process handler: ``function(event)``; an exception or ``False`` is a failure, and
    so is no answer within ``timeout`` seconds (the call is abandoned, see the module)."""

    def __init__(
        self,
        name: str,
        function: Callable[[Event], Any],
        *,
        timeout: float = DEFAULT_HANDLER_TIMEOUT,
    ) -> None:
        self.name = name
        self.function = function
        self.timeout = timeout
        self._abandoned: _Call | None = None

    def __call__(self, event: Event) -> HandlerResult:
        started = time.monotonic()
        stuck = self._abandoned
        if stuck is not None and stuck.thread.is_alive():
            result = HandlerResult(
                self.name,
                event,
                None,
                error=f"not started: still busy with a {stuck.event.type} event that timed out "
                f"(started {time.monotonic() - stuck.started:.0f} s ago)",
            )
            log_result(result)
            return result
        self._abandoned = None
        call = _Call(self.name, self.function, event)
        call.thread.join(self.timeout)
        if call.thread.is_alive():
            self._abandoned = call
            result = HandlerResult(
                self.name,
                event,
                None,
                timed_out=True,
                error=f"no answer after {self.timeout:g} s (timeout); abandoned",
                seconds=time.monotonic() - started,
            )
        elif call.exception is not None:
            exc = call.exception
            result = HandlerResult(
                self.name,
                event,
                None,
                error=f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                seconds=time.monotonic() - started,
            )
        else:
            outcome = call.outcome
            result = HandlerResult(
                self.name,
                event,
                1 if outcome is False else 0,
                seconds=time.monotonic() - started,
            )
        log_result(result)
        return result
