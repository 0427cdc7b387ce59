"""Alembic environment of the vmcaster database.

Run only through :func:`imagelist.db.migrate`, which passes an open connection in
``config.attributes["connection"]``. The version table is ``vmcaster_alembic_version`` so that
vmcaster's history never mixes with vmcatcher's in a shared database.
"""

from __future__ import annotations

from alembic import context

from imagelist.db.publisher.models import Base

VERSION_TABLE = "vmcaster_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
