"""Signed session cookies and the per-session CSRF token every form carries (ADR 0025).

The cookie holds a small JSON object signed with HMAC-SHA256 (the key from
:class:`~imagelist.market.web.settings.WebSettings`), with its issue time: a cookie that is
altered, unsigned or older than ``session_max_age`` is ignored (the visitor is anonymous). It is
``HttpOnly``, ``SameSite=Lax`` and ``Secure`` when the request came over https (to us, or to the
proxy in front of us: ``X-Forwarded-Proto: https``).

Every state-changing request of the pages (POST) must carry the session's CSRF token, as the form
field ``csrf_token`` or the ``X-CSRF-Token`` header (HTMX requests); :func:`check_csrf` refuses
anything else with 403 before the handler runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["COOKIE_NAME", "CSRF_FIELD", "SessionMiddleware", "check_csrf", "csrf_token"]

COOKIE_NAME = "market_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_MAX_COOKIE = 4000
log = logging.getLogger(__name__)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs and checks session cookie values."""

    def __init__(self, key: bytes, max_age: int) -> None:
        self.key = hashlib.sha256(b"imagelist-market session\0" + key).digest()
        self.max_age = max_age

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode("ascii"), hashlib.sha256).digest())

    def encode(self, data: dict[str, Any], now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        body = _b64(json.dumps({"t": issued, "d": data}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def decode(self, value: str, now: float | None = None) -> dict[str, Any] | None:
        body, _, mac = value.partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("d"), dict):
            return None
        issued = payload.get("t")
        current = time.time() if now is None else now
        if not isinstance(issued, int) or not (issued - 60 <= current <= issued + self.max_age):
            return None
        data: dict[str, Any] = payload["d"]
        return data


class _Session(dict[str, Any]):
    modified: bool = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.modified = True
        return super().pop(key, *default)


class SessionMiddleware:
    """Puts ``scope["session"]`` (what ``request.session`` returns) and writes the cookie back."""

    def __init__(self, app: ASGIApp, *, key: bytes, max_age: int) -> None:
        self.app = app
        self.codec = SessionCodec(key, max_age)
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session = _Session()
        had_cookie = False
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except CookieError:
                    log.debug("ignoring a malformed Cookie header")
                    continue
                morsel = cookie.get(COOKIE_NAME)
                if morsel is not None:
                    had_cookie = True
                    decoded = self.codec.decode(morsel.value)
                    if decoded is not None:
                        session = _Session(decoded)
        scope["session"] = session
        secure = _over_https(scope)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and (session.modified or not session):
                headers = MutableHeaders(scope=message)
                attrs = f"Path=/; HttpOnly; SameSite=Lax{'; Secure' if secure else ''}"
                if session:
                    value = self.codec.encode(dict(session))
                    if len(value) <= _MAX_COOKIE:
                        headers.append(
                            "set-cookie", f"{COOKIE_NAME}={value}; Max-Age={self.max_age}; {attrs}"
                        )
                elif had_cookie:
                    headers.append("set-cookie", f"{COOKIE_NAME}=; Max-Age=0; {attrs}")
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _over_https(scope: Scope) -> bool:
    """Whether the browser spoke https: to us, or to the TLS proxy in front of us.

    ``imagelist-market serve`` leaves the proxy headers alone (uvicorn ``proxy_headers=False``),
    so behind nginx the scheme is ``http`` and ``X-Forwarded-Proto`` says what the browser used.
    Believing it from anyone is safe: it can only add ``Secure``, which binds the cookie closer.
    """
    if scope.get("scheme") == "https":
        return True
    forwarded = [v for k, v in scope.get("headers", []) if k == b"x-forwarded-proto"]
    return bool(forwarded) and forwarded[-1].strip().lower() == b"https"


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """A dependency for every page route: unsafe methods need the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(sent, expected):
        raise HTTPException(status_code=403, detail="the form is stale or forged (CSRF token)")
