"""The market's REST API (FastAPI): :func:`create_app` and the reusable dependencies."""

from __future__ import annotations

from .app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
