"""Databases: one engine factory and one migration runner for the publisher and subscriber.

The defaults a command line shows (:mod:`.defaults`) import nothing; the engine (SQLAlchemy) is
imported on first use of its names (PEP 562, ADR 0029).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .engine import hide_db_password, make_engine, migrate

__all__ = ["hide_db_password", "make_engine", "migrate"]

__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, ".engine"))
