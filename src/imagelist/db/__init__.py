"""Databases: one engine factory and one migration runner for the publisher and subscriber."""

from __future__ import annotations

from .engine import make_engine, migrate, redact_url

__all__ = ["make_engine", "migrate", "redact_url"]
