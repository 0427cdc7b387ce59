"""The application of one ``imagelist-market serve`` worker: where its settings come from.

uvicorn starts each worker in a process of its own and imports :func:`app_from_env` there
(``factory=True``), so nothing can be handed to it but the environment. This module is the
worker's application boundary (ADR 0028), like the command lines under ``cli/``: the one place
outside them that reads ``os.environ``. It reads it once, here, and passes everything down
explicitly: ``IMAGELIST_MARKET_HOME`` (the directory), ``IMAGELIST_MARKET_RUN_JOBS`` (``0``:
another process runs the integrity jobs), the ``IMAGELIST_MARKET_*`` settings and the shared
variables of :class:`~imagelist.market.settings.MarketSettings` and
:class:`~imagelist.market.web.settings.WebSettings`, and whether ``PROMETHEUS_MULTIPROC_DIR``
is set. ``imagelist-market serve`` exports the first two (and the database URL) before it
starts uvicorn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DEFAULT_HOME", "HOME_ENV", "RUN_JOBS_ENV", "app_from_env", "app_from_environ"]

HOME_ENV = "IMAGELIST_MARKET_HOME"
RUN_JOBS_ENV = "IMAGELIST_MARKET_RUN_JOBS"
DEFAULT_HOME = "imagelist-market"


def app_from_environ(environ: Mapping[str, str]) -> FastAPI:
    """The market application with every setting taken from ``environ``."""
    from .api.app import create_app
    from .settings import MarketSettings
    from .web.settings import WebSettings

    settings = MarketSettings.from_env(Path(environ.get(HOME_ENV) or DEFAULT_HOME), environ)
    return create_app(
        settings,
        run_jobs=environ.get(RUN_JOBS_ENV, "1") != "0",
        web_settings=WebSettings.from_env(settings.data_dir, environ),
        multiprocess_metrics=bool(environ.get("PROMETHEUS_MULTIPROC_DIR")),
    )


def app_from_env() -> FastAPI:
    """The app of ``imagelist-market serve`` (each uvicorn worker calls this): the process
    environment, read once."""
    return app_from_environ(os.environ)
