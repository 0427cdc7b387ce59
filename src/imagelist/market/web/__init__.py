"""The marketplace's web pages (Jinja2 + HTMX), logins and notifications (issue 13, ADR 0025).

:func:`mount_web` adds them to the market's FastAPI application: the session middleware, the
login pages (X.509 via the trusted proxy, OIDC when configured), the pages and ``/static``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from ..settings import MarketSettings
from .context import STATIC_DIR, WebContext
from .sessions import SessionMiddleware
from .settings import WebSettings, load_secret

__all__ = ["WebSettings", "mount_web"]


def mount_web(
    app: FastAPI,
    settings: MarketSettings,
    sessions: sessionmaker[Session] | None = None,
    web_settings: WebSettings | None = None,
) -> WebContext:
    """Add the pages, logins and static files to ``app`` (sessions on ``app.state.engine``);
    ``web_settings``: the command's (default: the defaults, session key in the data directory)."""
    from . import editor, login, pages, vopages

    if web_settings is None:
        web_settings = WebSettings.from_env(settings.data_dir, {})
    if sessions is None:
        sessions = sessionmaker(app.state.engine, expire_on_commit=False)
    key = load_secret(web_settings.session_key_file, create=True)
    context = WebContext(settings=settings, web=web_settings, sessions=sessions)
    app.state.market_web = context
    app.add_middleware(SessionMiddleware, key=key, max_age=web_settings.session_max_age)
    app.include_router(login.router)
    for module in (pages, editor, vopages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return context
