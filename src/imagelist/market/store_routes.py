"""``/store``: the published files, served by the market itself (ADR 0020).

The same files a static web server would serve from ``<data dir>/store``, with:

* ``ETag`` (the SHA-256 of the file, quoted) and ``Last-Modified``; ``If-None-Match`` and
  ``If-Modified-Since`` answer 304. Digests are remembered per (device, inode, size, mtime), so
  a conditional GET costs one ``stat`` chain and no read.
* token-gated VO lists: a VO whose ``gated`` flag is set serves ``/store/vo/<vo>/...`` only to a
  token with scope ``vo:<vo>:read``, sent as ``Authorization: Bearer <token>`` or as basic auth
  ``<token>:x-oauth-basic`` (what vmcatcher and atrope send). No or a bad token: 401; a token
  without the scope: 403. Both are JSON ``{"detail", "code"}``.
* no traversal: each path component must be a safe name (no ``..``, no ``/``, no dot names) and
  is opened without following links (:mod:`.storefiles`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..db.market.models import Vo
from ..errors import MarketAuthenticationError
from .storefiles import StoreDirectory, safe_component
from .tokens import authenticate_token

__all__ = [
    "GATE_CACHE_SECONDS",
    "TOKEN_PASSWORD",
    "StoreFiles",
    "StoreMiddleware",
    "store_router",
    "token_scope",
]

#: The basic-auth password that marks the user name as a token (GitHub's and AppDB's form).
TOKEN_PASSWORD = "x-oauth-basic"  # noqa: S105 - a marker, not a secret
#: How long a VO's ``gated`` flag is remembered by one worker.
GATE_CACHE_SECONDS = 5.0
_TYPES = {
    "image.list": "text/plain; charset=us-ascii",
    "image.list.json": "application/json",
    "image.list.json.asc": "application/pgp-signature",
}
_CHALLENGE = 'Basic realm="imagelist market", Bearer'


def token_scope(vo: str) -> str:
    """The scope a token needs to read the gated list of ``vo``."""
    return f"vo:{vo}:read"


@dataclass(frozen=True)
class _Entry:
    stamp: tuple[int, int, int, int]
    etag: str
    last_modified: datetime


class StoreFiles:
    """Validators of the files under the store root, remembered per file version."""

    def __init__(self, store: StoreDirectory) -> None:
        self.store = store
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._lock = threading.Lock()

    def validators(self, path: tuple[str, ...]) -> _Entry | None:
        """The validators of the file at ``path`` (None if missing); one ``stat`` if known."""
        info = self.store.stat(path)
        if info is None:
            return None
        stamp = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            entry = self._entries.get(path)
        if entry is not None and entry.stamp == stamp:
            return entry
        found = self.fetch(path)
        return None if found is None else found[0]

    def fetch(self, path: tuple[str, ...]) -> tuple[_Entry, bytes] | None:
        """The file's bytes and the validators of exactly those bytes."""
        stored = self.store.read(path)
        if stored is None:
            return None
        entry = _Entry(
            stored.stamp,
            '"' + hashlib.sha256(stored.data).hexdigest() + '"',
            datetime.fromtimestamp(int(stored.mtime), UTC),
        )
        with self._lock:
            self._entries[path] = entry
        return entry, stored.data


def _error(status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def _presented_token(request_headers: Headers) -> str | None:
    header = request_headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if password == TOKEN_PASSWORD and user:
            return user
    return None


def _headers(entry: _Entry, private: bool) -> dict[str, str]:
    return {
        "ETag": entry.etag,
        "Last-Modified": format_datetime(entry.last_modified, usegmt=True),
        "Cache-Control": "private, no-cache" if private else "public, no-cache",
    }


def _not_modified(request_headers: Headers, entry: _Entry) -> bool:
    match = request_headers.get("if-none-match")
    if match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in match.split(",")}
        return "*" in tags or entry.etag in tags
    since = request_headers.get("if-modified-since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return entry.last_modified <= when
    return False


class _Gates:
    """Whether each VO's list is gated, remembered for a few seconds."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions
        self._known: dict[str, tuple[float, bool | None]] = {}
        self._lock = threading.Lock()

    def gated(self, vo: str) -> bool | None:
        """True/False, or None if there is no such VO."""
        now = time.monotonic()
        with self._lock:
            known = self._known.get(vo)
        if known is not None and now - known[0] < GATE_CACHE_SECONDS:
            return known[1]
        with self.sessions() as session:
            flag = session.scalars(select(Vo.gated).where(Vo.name == vo)).first()
        value = None if flag is None else bool(flag)
        with self._lock:
            self._known[vo] = (now, value)
        return value

    def authorise(self, vo: str, token: str) -> str | None:
        """None if ``token`` may read ``vo``'s list; else "invalid" or "scope".

        The API's check (:func:`~imagelist.market.tokens.authenticate_token`), in a session
        that is never committed: a read of the store writes nothing.
        """
        with self.sessions() as session:
            try:
                row = authenticate_token(session, token)
            except MarketAuthenticationError:
                return "invalid"
            if token_scope(vo) not in (row.scopes or []):
                return "scope"
        return None


def _state(state: Any) -> tuple[StoreFiles, _Gates]:
    """The app's store files and VO gates, made on first use."""
    served = getattr(state, "store_files", None)
    if served is None:
        engine = state.engine
        served = (
            StoreFiles(StoreDirectory(state.settings.store_dir)),
            _Gates(lambda: Session(engine)),
        )
        state.store_files = served
    return cast(tuple[StoreFiles, _Gates], served)


def _answer(
    files: StoreFiles, gates: _Gates, method: str, path: str, request_headers: Headers
) -> Response:
    """The response to ``GET``/``HEAD /store/<path>``."""
    parts = tuple(path.split("/"))
    if not all(safe_component(part) for part in parts):
        return _error(404, f"no published file /store/{path}", "not_found")
    private = False
    if len(parts) >= 3 and parts[0] == "vo":
        gated = gates.gated(parts[1])
        if gated is None:
            return _error(404, f"no VO {parts[1]}", "not_found")
        if gated:
            token = _presented_token(request_headers)
            if token is None:
                return _error(
                    401,
                    f"the list of VO {parts[1]} needs a token with scope {token_scope(parts[1])}",
                    "unauthenticated",
                    {"WWW-Authenticate": _CHALLENGE},
                )
            problem = gates.authorise(parts[1], token)
            if problem == "invalid":
                return _error(
                    401,
                    "token unknown, expired or revoked",
                    "unauthenticated",
                    {"WWW-Authenticate": _CHALLENGE},
                )
            if problem == "scope":
                return _error(403, f"token lacks scope {token_scope(parts[1])}", "forbidden")
            private = True
    entry = files.validators(parts)
    if entry is not None and _not_modified(request_headers, entry):
        return Response(status_code=304, headers=_headers(entry, private))
    found = files.fetch(parts)
    if found is None:
        return _error(404, f"no published file /store/{path}", "not_found")
    entry, body = found
    headers = _headers(entry, private)
    media = _TYPES.get(parts[-1], "application/octet-stream")
    if method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=media)
    return Response(body, status_code=200, headers=headers, media_type=media)


def store_router() -> APIRouter:
    """The ``/store`` router; it reads ``app.state.settings`` and ``app.state.engine``."""
    router = APIRouter()

    @router.api_route("/store/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def serve(path: str, request: Request) -> Response:
        files, gates = _state(request.app.state)
        return _answer(files, gates, request.method, path, request.headers)

    return router


class StoreMiddleware:
    """``GET``/``HEAD /store/...`` answered before the rest of the app's middleware (the same
    answers as :func:`store_router`, a few times faster for 304s); everything else passes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/store/") or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        files, gates = _state(scope["app"].state)
        arguments = (files, gates, scope["method"], path[len("/store/") :], Headers(scope=scope))
        if path.startswith("/store/vo/"):  # may read the database: not on the event loop
            response = await run_in_threadpool(_answer, *arguments)
        else:
            response = _answer(*arguments)
        await response(scope, receive, send)
