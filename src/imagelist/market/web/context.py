"""What every page handler reads: the settings, the database, the templates, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from ..settings import MarketSettings
from .sessions import csrf_token
from .settings import WebSettings

__all__ = ["TEMPLATES_DIR", "DbSession", "WebContext", "db", "render", "web"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
HTMX_FILE = "htmx-2.0.4.min.js"


@dataclass
class WebContext:
    """Kept in ``app.state.market_web``."""

    settings: MarketSettings
    web: WebSettings
    sessions: sessionmaker[Session]
    templates: Jinja2Templates = field(
        default_factory=lambda: Jinja2Templates(directory=str(TEMPLATES_DIR))
    )
    oauth: Any = None


def web(request: Request) -> WebContext:
    context: WebContext = request.app.state.market_web
    return context


def db(request: Request) -> Iterator[Session]:
    """A database session for one request; committed by the handler, closed here."""
    with web(request).sessions() as session:
        yield session


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    """A page (or an HTMX fragment) with the caller and the CSRF token in its context."""
    context = web(request)
    values.setdefault("me", getattr(request.state, "me", None))
    flashed = request.session.pop("flash", None)  # a message left by the previous action
    if (
        isinstance(flashed, list)
        and len(flashed) == 2
        and not (values.get("error") or values.get("notice"))
    ):
        values["error" if flashed[0] == "error" else "notice"] = str(flashed[1])
    response: Response = context.templates.TemplateResponse(
        request,
        template,
        {
            "csrf_token": csrf_token(request.session),
            "oidc_enabled": context.web.oidc_enabled,
            "oidc_label": context.web.oidc_label,
            "htmx_file": HTMX_FILE,
            "base_url": context.settings.public_base_url,
            **values,
        },
        status_code=status_code,
    )
    return response


#: A request's database session, as a handler parameter.
DbSession = Annotated[Session, Depends(db)]
