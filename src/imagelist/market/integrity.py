"""The integrity check of one image: download it, hash it while streaming, keep nothing.

Through the project's fetcher (:meth:`imagelist.fetch.Fetcher.open_stream`): http and https
only (https verified, no ``file://``), redirects only to the same or a stronger scheme, connect
and read timeouts. On top of that: a stall limit (no byte for ``stall_seconds`` ends the
check), a size cap (the declared size, and the market's maximum), a cancel flag, and a
``Content-Length`` that differs from the declared size ends the check before any byte is read.
The bytes go only into SHA-512 (:class:`imagelist.hashing.StreamHasher`); nothing is written.
A digest-pinned ``oci://`` image is read through :class:`imagelist.oci.blobs.RegistryBlobs`
(manifest bytes hashed to the digest, the one disk layer, its sha256 checked with the SHA-512).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from ..errors import FetchError, ImageListError
from ..fetch import Fetcher, redact_url_safe
from ..hashing import CHUNK, StreamHasher
from ..oci.access import RegistryAccess
from ..oci.blobs import RegistryBlobs, hasher_for, is_oci_uri

__all__ = ["CheckLimits", "CheckResult", "check_image"]

logger = logging.getLogger(__name__)

_READ_ERRORS = (
    OSError,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    socket.timeout,
)


@dataclass(frozen=True)
class CheckLimits:
    """Timeouts (seconds) and the size cap (bytes) of one image check."""

    connect_timeout: float = 10.0
    stall_seconds: float = 60.0
    max_size: int = 64 * 1024**3


@dataclass(frozen=True)
class CheckResult:
    """The outcome: ``state`` ``ok`` or ``failed``, a one-line ``message``, bytes read."""

    state: str
    message: str
    bytes_read: int

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def _failed(message: str, done: int) -> CheckResult:
    return CheckResult("failed", message, done)


def _abort(response: requests.Response) -> None:
    """Wake a thread blocked reading ``response`` (used on cancel)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def check_image(
    fetcher: Fetcher,
    uri: str,
    size: int,
    sha512: str,
    *,
    limits: CheckLimits | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
    access: RegistryAccess | None = None,
) -> CheckResult:
    """Download ``uri`` and compare its size and SHA-512 with the declared ones.

    Never raises for a failed check: the result says why, in one line naming the URL.
    ``access``: how ``oci://`` registries are reached (default: anonymous, https).
    """
    limits = limits or CheckLimits()
    cancel = cancel or threading.Event()
    shown = redact_url_safe(uri)
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError as exc:  # a malformed host ("http://[::1/"): a failed check, not a crash
        return _failed(f"{shown}: not a valid URL ({' '.join(str(exc).split())})", 0)
    registry = (
        RegistryBlobs(access or RegistryAccess(), adapter=fetcher.trust.adapter())
        if is_oci_uri(uri)
        else None
    )
    if scheme not in ("http", "https") and registry is None:
        return _failed(f"{shown}: only http, https and oci images can be checked", 0)
    if size > limits.max_size:
        return _failed(
            f"{shown}: declared size {size} is more than the limit of {limits.max_size} bytes", 0
        )
    timeout = (limits.connect_timeout, limits.stall_seconds)
    try:
        if registry is not None:  # digest-pinned oci:// image: manifest and layer through ours
            response = registry.open(uri, size, {}, timeout)
        else:
            response = fetcher.open_stream(uri, timeout=timeout)
    except FetchError as exc:
        return _failed(str(exc), 0)
    except ImageListError as exc:  # e.g. an unusable OCI CA bundle: this check fails, it says why
        return _failed(f"{shown}: {exc}", 0)
    except _READ_ERRORS as exc:
        return _failed(f"cannot retrieve {shown}: {type(exc).__name__}", 0)
    watcher: threading.Thread | None = None
    finished = threading.Event()
    try:
        if response.status_code != 200:
            reason = f" {response.reason}" if response.reason else ""
            return _failed(f"cannot download {shown}: HTTP {response.status_code}{reason}", 0)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) != size:
            return _failed(f"{shown} announces {declared} bytes, the version declares {size}", 0)

        def watch() -> None:
            while not finished.wait(0.2):
                if cancel.is_set():
                    _abort(response)
                    return

        watcher = threading.Thread(target=watch, name="integrity-cancel", daemon=True)
        watcher.start()
        result = _stream(response, shown, size, sha512, limits, cancel, progress, registry, uri)
        return result
    finally:
        if registry is not None:
            registry.close()
        finished.set()
        if watcher is not None:
            watcher.join(timeout=5)
        response.close()


def _stream(
    response: requests.Response,
    shown: str,
    size: int,
    sha512: str,
    limits: CheckLimits,
    cancel: threading.Event,
    progress: Callable[[int], None] | None,
    registry: RegistryBlobs | None = None,
    uri: str = "",
) -> CheckResult:
    hasher = hasher_for(uri) if registry is not None else StreamHasher()
    raw = response.raw
    done = 0
    started = time.monotonic()
    try:
        while True:
            if cancel.is_set():
                return _failed(f"{shown}: cancelled after {done} bytes", done)
            # one byte more than declared shows the body is too long
            chunk = raw.read1(min(CHUNK, size + 1 - done)) if done <= size else b""
            if not chunk:
                break
            done += len(chunk)
            if done > size:
                return _failed(f"{shown} sent more than the declared {size} bytes", done)
            hasher.update(chunk)
            if progress is not None:
                progress(len(chunk))
    except _READ_ERRORS as exc:
        if cancel.is_set():
            return _failed(f"{shown}: cancelled after {done} bytes", done)
        timeout = isinstance(
            exc, urllib3.exceptions.ReadTimeoutError | socket.timeout | TimeoutError
        ) or "timed out" in str(exc)
        what = (
            f"stalled: no data for {limits.stall_seconds:g} s"
            if timeout
            else f"connection broken ({type(exc).__name__})"
        )
        return _failed(f"{shown}: {what} after {done} of {size} bytes", done)
    finally:
        digest = hasher.hexdigest()
        hasher.close()
    if done < size:
        return _failed(f"{shown}: the connection closed after {done} of {size} bytes", done)
    layer_error = registry.check(uri, size, hasher) if registry is not None else None
    if layer_error is not None:
        return _failed(f"{shown}: {layer_error}", done)
    if digest != sha512.lower():
        return _failed(
            f"{shown}: sha512 {digest[:16]}... differs from the declared {sha512[:16]}...", done
        )
    elapsed = max(time.monotonic() - started, 1e-9)
    logger.info("%s: %d bytes checked in %.1f s", shown, done, elapsed)
    return CheckResult("ok", f"size and sha512 match ({done} bytes)", done)
