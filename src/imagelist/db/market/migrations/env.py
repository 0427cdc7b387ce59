"""Alembic environment of the marketplace database.

Run only through :func:`imagelist.db.migrate`, which passes an open connection in
``config.attributes["connection"]``. The version table is ``market_alembic_version`` so that
the market's history never mixes with vmcaster's or vmcatcher's in a shared database.
"""

from __future__ import annotations

from imagelist.db.engine import run_alembic_environment
from imagelist.db.market import VERSION_TABLE
from imagelist.db.market.models import Base

run_alembic_environment(Base.metadata, VERSION_TABLE)
