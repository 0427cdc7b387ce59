"""Alembic environment of the vmcatcher database.

Run only through :func:`imagelist.db.migrate`, which passes an open connection in
``config.attributes["connection"]``. The version table is ``vmcatcher_alembic_version`` so that
vmcatcher's history never mixes with vmcaster's.
"""

from __future__ import annotations

from imagelist.db.engine import run_alembic_environment
from imagelist.db.subscriber import VERSION_TABLE
from imagelist.db.subscriber.models import Base

run_alembic_environment(Base.metadata, VERSION_TABLE)
