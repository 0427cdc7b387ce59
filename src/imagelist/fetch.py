"""The one HTTP/file seam: retrieve an image list, bounded, verified and conditional.

What vmcatcher 0.6 did wrong here (reference §2.9, defect D6) and what this module does instead:

* **https is verified**: the server certificate must chain to the system CAs, or to a CA of the
  IGTF trust directory *and* be inside that CA's namespace (:mod:`imagelist.https`), and its
  name must match the host. ``VMCATCHER_HTTPS_IGTF=no`` leaves the system CAs alone.
* **The whole URL is used**: port, path and query string (the old tool kept only the path).
* **Redirects are followed** (at most ``max_redirects``), but only to the same or a stronger
  scheme: http→http, http→https, https→https. https→http and any other scheme are refused.
  Credentials are only sent to the origin of the original URL: the same scheme, host and port.
* **Bounded**: a connect timeout, a read timeout (a server that stalls mid-body), a total time
  limit for the whole retrieval (a server that trickles), and a size cap (16 MiB by default)
  enforced while reading, before the body is kept in memory.
* **Conditional GET**: the ETag and Last-Modified of the accepted list are sent back as
  If-None-Match/If-Modified-Since, so an unchanged list costs one 304.
* **Proxies** come from the environment (``http_proxy``, ``https_proxy``, ``no_proxy``); nothing
  else is read from the environment or from ``~/.netrc``.
* ``file://`` URLs read a local file with the same size cap.

Every failure is a one-line :class:`~imagelist.errors.FetchError` with exit code 10 (vmcatcher's
"download failed"). The old tool exited with the HTTP status itself (so the shell saw it modulo
256); here the status is in the message and in :attr:`HttpStatusError.status` instead.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.utils import get_environ_proxies

from . import __version__
from .errors import FetchError, FetchTimeoutError, HttpStatusError, ListTooLargeError
from .fetch_limits import DEFAULT_MAX_BYTES, FetchLimits, FetchResult
from .http_reasons import describe_error, is_timeout, shorten
from .https import HttpsTrust
from .trust.store import TrustStore
from .urls import (
    RANK,
    quote_location,
    redact_url,
    redact_url_safe,
    same_origin,
    scheme_rank,
    split_credentials,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FetchLimits",
    "FetchResult",
    "Fetcher",
    "redact_url",
    "redact_url_safe",
    "same_origin",
    "scheme_rank",
    "split_credentials",
]

logger = logging.getLogger(__name__)

USER_AGENT = f"vmcatcher/{__version__} (imagelist)"
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Fetcher:
    """Retrieves lists over http, https and file with one keep-alive session per run.

    Use as a context manager (or call :meth:`close`): it owns the session. https servers are
    verified by :class:`~imagelist.https.HttpsTrust`: the system CAs, then the CAs of ``store``
    within their namespaces unless ``igtf_https`` is False (a command sets it from
    ``$VMCATCHER_HTTPS_IGTF``: :func:`~imagelist.https.igtf_https_enabled`).
    """

    def __init__(
        self,
        store: TrustStore | None = None,
        *,
        limits: FetchLimits | None = None,
        user_agent: str = USER_AGENT,
        igtf_https: bool = True,
    ) -> None:
        self.limits = limits or FetchLimits()
        self.trust = HttpsTrust(store, igtf=igtf_https)
        self._session = requests.Session()
        self._session.trust_env = False  # proxies are read explicitly; no .netrc, no CA env
        self._session.mount("https://", self.trust.adapter())
        self._session.headers.update({"User-Agent": user_agent, "Accept-Encoding": "identity"})

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the session's connections."""
        self._session.close()

    def fetch(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """Retrieve ``url``; with ``etag``/``last_modified`` a 304 gives ``not_modified``.

        Credentials in the URL itself are used when no ``username`` is given.
        """
        try:
            clean, url_user, url_password = split_credentials(url)
            parts = urlsplit(clean)
            _ = parts.port  # raises ValueError for a port out of range
        except ValueError as exc:
            raise FetchError(f"cannot retrieve {redact_url_safe(url)}: {exc}") from None
        if username is None:
            username, password = url_user, url_password
        scheme = parts.scheme.lower()
        if scheme == "file":
            return self._fetch_file(clean)
        if not scheme:  # a bare path: say how to name a local file
            where = Path(clean).expanduser().absolute().as_uri() if clean else "file:///abs/path"
            raise FetchError(
                f"cannot retrieve {clean!r}: not a URL (for a local file use {where}, "
                "the file:///abs/path form)"
            )
        if scheme not in RANK:
            raise FetchError(f"cannot retrieve {clean}: unsupported URL scheme {scheme!r}")
        return self._fetch_http(clean, username, password, etag, last_modified)

    def open_stream(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        """GET ``url`` for streaming and return the open response, whatever its final status.

        For image downloads: redirects, credentials in the URL, proxies and https verification
        are as in :meth:`fetch`, but there is no size cap and no total time limit (the caller
        bounds the body by the expected size and detects stalls). ``timeout`` is (connect, read)
        in seconds, default the limits'. The caller reads ``response.raw`` and closes it.
        """
        try:
            clean, username, password = split_credentials(url)
            scheme = urlsplit(clean).scheme.lower()
            _ = urlsplit(clean).port
        except ValueError as exc:
            raise FetchError(f"cannot retrieve {redact_url_safe(url)}: {exc}") from None
        if scheme not in RANK:
            raise FetchError(f"cannot retrieve {clean}: unsupported URL scheme {scheme!r}")
        limits = self.limits
        current = clean
        for _hop in range(limits.max_redirects + 1):
            send_auth = username is not None and same_origin(current, clean)
            response = self._get(
                current,
                headers=dict(headers or {}),
                auth=(username or "", password or "") if send_auth else None,
                timeout=timeout or (limits.connect_timeout, limits.read_timeout),
            )
            if response.status_code not in _REDIRECTS:
                return response
            try:
                current = self._redirect_target(current, response)
            finally:
                response.close()
        raise FetchError(f"cannot retrieve {clean}: more than {limits.max_redirects} redirects")

    # --- file:// ---------------------------------------------------------------------------

    def _fetch_file(self, url: str) -> FetchResult:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"cannot retrieve {url}: file URLs must name a local path")
        path = unquote(parts.path)
        limit = self.limits.max_bytes
        try:
            # O_NONBLOCK: a FIFO must not block the run; it is refused just below.
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(descriptor, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise FetchError(f"cannot retrieve {url}: not a regular file")
                if info.st_size > limit:
                    raise ListTooLargeError(
                        f"{url} is {info.st_size} bytes, more than the limit of {limit} bytes"
                    )
                data = handle.read(limit + 1)
        except OSError as exc:
            raise FetchError(f"cannot retrieve {url}: {exc.strerror or exc}") from None
        if len(data) > limit:
            raise ListTooLargeError(f"{url} is more than the limit of {limit} bytes")
        return FetchResult(url=url, data=data)

    # --- http and https ----------------------------------------------------------------------

    def _fetch_http(
        self,
        url: str,
        username: str | None,
        password: str | None,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        limits = self.limits
        deadline = time.monotonic() + limits.max_time
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        current = url
        for _hop in range(limits.max_redirects + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchTimeoutError(f"retrieving {url} took longer than {limits.max_time:g} s")
            send_auth = username is not None and same_origin(current, url)
            response = self._get(
                current,
                headers=conditional,
                auth=(username or "", password or "") if send_auth else None,
                timeout=(
                    min(limits.connect_timeout, remaining),
                    min(limits.read_timeout, remaining),
                ),
            )
            try:
                status = response.status_code
                if status in _REDIRECTS:
                    current = self._redirect_target(current, response)
                    continue
                if status == 304 and conditional:
                    _ = response.content  # empty by definition; lets the connection be reused
                    logger.debug("%s not modified", current)
                    return FetchResult(
                        url=current,
                        data=None,
                        not_modified=True,
                        etag=response.headers.get("ETag", etag),
                        last_modified=response.headers.get("Last-Modified", last_modified),
                        status=304,
                    )
                if status != 200:
                    reason = f" {shorten(response.reason)}" if response.reason else ""
                    raise HttpStatusError(
                        f"cannot retrieve {current}: HTTP {status}{reason}", status=status
                    )
                data = self._read_body(current, response, deadline)
                return FetchResult(
                    url=current,
                    data=data,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
            finally:
                response.close()
        raise FetchError(f"cannot retrieve {url}: more than {limits.max_redirects} redirects")

    def _get(
        self,
        url: str,
        *,
        headers: dict[str, str],
        auth: tuple[str, str] | None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        try:
            proxies = get_environ_proxies(url)
        except (ValueError, OSError):  # pragma: no cover - malformed no_proxy entries
            proxies = {}
        try:
            return self._session.get(
                url,
                headers=headers,
                auth=auth,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
                proxies=proxies,
                verify=True,  # the https adapter applies HttpsTrust whatever this says
            )
        except requests.RequestException as exc:
            if is_timeout(exc):
                raise FetchTimeoutError(
                    f"cannot retrieve {url}: timed out ({describe_error(exc)})"
                ) from None
            raise FetchError(f"cannot retrieve {url}: {describe_error(exc)}") from None
        except (ValueError, OSError) as exc:  # e.g. an invalid port or host in the URL
            raise FetchError(f"cannot retrieve {url}: {shorten(str(exc))}") from None

    def _redirect_target(self, current: str, response: requests.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise FetchError(
                f"cannot retrieve {current}: HTTP {response.status_code} without a Location"
            )
        target = urljoin(current, quote_location(location))
        rank = scheme_rank(target)
        if rank == 0:  # file:, ftp:...: named by a server; not followed and not echoed (ADR 0010)
            scheme = urlsplit(target).scheme.lower()[:20] or "relative"
            raise FetchError(
                f"cannot retrieve {current}: refusing redirect to a {scheme}: URL "
                "(only http and https are followed)"
            )
        if rank < scheme_rank(current):
            raise FetchError(
                f"cannot retrieve {current}: refusing redirect to {redact_url(target)} "
                "(only the same or a stronger scheme is followed)"
            )
        logger.info("%s redirects to %s", current, redact_url(target))
        return target

    def _read_body(self, url: str, response: requests.Response, deadline: float) -> bytes:
        limit = self.limits.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ListTooLargeError(
                f"{url} is {declared} bytes, more than the limit of {limit} bytes"
            )
        chunks: list[bytes] = []
        total = 0
        raw = response.raw
        try:
            while True:
                # read1 returns as soon as the socket has data, so a trickling server meets the
                # total-time check after every read instead of after a whole 64 KiB chunk.
                chunk = raw.read1(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise ListTooLargeError(
                        f"{url} sent more than the limit of {limit} bytes; stopped reading"
                    )
                if time.monotonic() > deadline:
                    raise FetchTimeoutError(
                        f"retrieving {url} took longer than {self.limits.max_time:g} s "
                        f"({total} bytes read)"
                    )
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if is_timeout(exc):
                raise FetchTimeoutError(
                    f"cannot retrieve {url}: the server stalled after {total} bytes "
                    f"(no data for {self.limits.read_timeout:g} s)"
                ) from None
            reason = describe_error(exc)
            raise FetchError(
                f"cannot retrieve {url}: connection broken after {total} bytes ({reason})"
            ) from None
        raw.release_conn()  # the body is complete: keep the connection for the next list
        return b"".join(chunks)
