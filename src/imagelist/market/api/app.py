"""The FastAPI application: :func:`create_app` wires settings, database, job runner, routers.

Every refusal is a 4xx JSON ``{"detail": "<one line>", "code": "<machine code>"}``: unknown
fields, wrong types, malformed JSON, oversize bodies (413), unknown paths, roles and states.
The transaction of a refused request is rolled back, so the database is unchanged. What no
handler expects is logged and answered 500 ``internal_error`` without details.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ... import __version__
from ...db.engine import db_reason
from ...db.market import open_database
from ...errors import DatabaseError, ImageListError, MarketError
from ..jobs import JobRunner
from ..openpgp_signing import keys_router
from ..settings import MarketSettings
from ..store_routes import StoreMiddleware, store_router
from . import routes_appliances, routes_misc, routes_versions, routes_vos

if TYPE_CHECKING:
    from ..web.settings import WebSettings

__all__ = ["API_PREFIX", "create_app"]

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

REQUESTS = Counter(
    "imagelist_market_requests_total", "HTTP requests answered", ["method", "status"]
)
DURATION = Histogram(
    "imagelist_market_request_duration_seconds", "Time to answer an HTTP request", ["method"]
)
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _error(status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


class BodyLimit:
    """Refuse request bodies larger than ``limit`` bytes with 413, announced or not."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body is larger than {self.limit} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await _error(400, "malformed Content-Length", "bad_request")(
                        scope, receive, send
                    )
                    return
                if int(value) > self.limit:
                    await _error(413, message, "body_too_large")(scope, receive, send)
                    return
        if any(name == b"content-length" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)  # the server stops at the announced length
            return
        # No length announced (chunked): read up to the limit, then replay what was read.
        body = bytearray()
        while True:
            event = await receive()
            if event["type"] != "http.request":
                return  # the client went away
            body += event.get("body", b"")
            if len(body) > self.limit:
                await _error(413, message, "body_too_large")(scope, receive, send)
                return
            if not event.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if not errors:
        return 422, "invalid request", "invalid_request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return 400, "malformed JSON body", "malformed_json"
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    text_ = " ".join(str(first.get("msg", "invalid")).split())
    extra = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return 422, f"{where}: {text_}{extra}", "invalid_request"


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(MarketError)
    async def market_error(_request: Request, exc: MarketError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return _error(exc.http_status, str(exc), exc.code, headers)

    @app.exception_handler(DatabaseError)
    async def database_error(_request: Request, exc: DatabaseError) -> Response:
        logger.error("%s", exc)
        return _error(503, "the database is not available", "database_unavailable")

    @app.exception_handler(ImageListError)
    async def imagelist_error(_request: Request, exc: ImageListError) -> Response:
        return _error(422, str(exc), "invalid_input")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        status, detail, code = _validation_detail(exc)
        return _error(status, detail, code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return _error(exc.status_code, str(exc.detail), code, dict(exc.headers or {}) or None)

    @app.exception_handler(IntegrityError)
    async def conflict(_request: Request, exc: IntegrityError) -> Response:
        return _error(409, f"the change conflicts with stored data: {db_reason(exc)}", "conflict")

    @app.exception_handler(SQLAlchemyError)
    async def database_down(_request: Request, exc: SQLAlchemyError) -> Response:
        logger.error("database error: %s", db_reason(exc))
        return _error(503, "the database is not available", "database_unavailable")

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> Response:
        logger.exception("internal error")
        return _error(500, "internal error", "internal_error")


def _metrics_registry(multiprocess_metrics: bool) -> CollectorRegistry | None:
    if multiprocess_metrics:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return None


def create_app(
    settings: MarketSettings,
    *,
    run_jobs: bool = True,
    web_settings: WebSettings | None = None,
    multiprocess_metrics: bool = False,
) -> FastAPI:
    """The market application on ``settings`` (the database is migrated to the head).

    ``run_jobs``: run integrity jobs in this process (False: another process runs them).
    ``web_settings``: of the pages and logins (default: the defaults). ``multiprocess_metrics``:
    ``/metrics`` adds up the workers' files (``PROMETHEUS_MULTIPROC_DIR`` is set; the
    ``prometheus_client`` library reads that directory itself).
    """
    settings.ensure_dirs()
    engine = open_database(settings.database_url, file_mode=settings.db_file_mode)
    runner = JobRunner(engine, settings) if run_jobs else None

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            engine.dispose()

    app = FastAPI(
        title="imagelist market",
        version=__version__,
        description="Virtual appliances, integrity checks, VO-wide image lists (ADR 0019).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.runner = runner
    app.state.runner_wake = runner.wake if runner is not None else (lambda: None)
    _install_handlers(app)
    for module in (routes_appliances, routes_versions, routes_vos, routes_misc):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """200 when the database answers."""
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            raise DatabaseError("database not reachable") from None
        return {"status": "ok"}

    registry = _metrics_registry(multiprocess_metrics)

    @app.get("/metrics", tags=["service"], include_in_schema=False)
    def metrics() -> Response:
        """Prometheus metrics (multiprocess mode with ``PROMETHEUS_MULTIPROC_DIR``)."""
        if registry is not None:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        with DURATION.labels(request.method).time():
            response = await call_next(request)
        REQUESTS.labels(request.method, str(response.status_code)).inc()
        return response

    app.include_router(store_router())  # /store (ADR 0020)
    app.include_router(keys_router())  # /keys/: the OpenPGP certificate (ADR 0021)
    from ..web import mount_web  # the pages and logins (issue 13, ADR 0025)

    mount_web(app, settings, web_settings=web_settings)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(StoreMiddleware)  # outermost: /store GETs skip the rest (ADR 0020)
    return app
