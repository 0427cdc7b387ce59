"""Databases: one engine factory and one migration runner for the publisher and subscriber."""

from __future__ import annotations

from .engine import hide_db_password, make_engine, migrate

__all__ = ["hide_db_password", "make_engine", "migrate"]
