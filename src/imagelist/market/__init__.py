"""The image marketplace (``imagelist-market``): appliances, versions, integrity checks, VO-wide
lists and their signed publication, served as a REST API (ADR 0019).

Library functions live in the submodules (:mod:`.settings`, :mod:`.service` ...); the FastAPI
application is made by :func:`imagelist.market.app.create_app`.
"""

from __future__ import annotations

from .settings import MarketSettings

__all__ = ["MarketSettings"]
