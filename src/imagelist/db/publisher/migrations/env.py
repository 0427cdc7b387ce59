"""Alembic environment of the vmcaster database.

Run only through :func:`imagelist.db.migrate`, which passes an open connection in
``config.attributes["connection"]``. The version table is ``vmcaster_alembic_version`` so that
vmcaster's history never mixes with vmcatcher's in a shared database.
"""

from __future__ import annotations

from imagelist.db.engine import run_alembic_environment
from imagelist.db.publisher import VERSION_TABLE
from imagelist.db.publisher.models import Base

run_alembic_environment(Base.metadata, VERSION_TABLE)
