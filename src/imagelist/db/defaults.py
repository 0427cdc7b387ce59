"""The default database URLs, as the original tools had them: a file in the current directory.

Apart from :mod:`.publisher` and :mod:`.subscriber` (SQLAlchemy), so that the command lines
show them in ``--help`` and the site file's report without importing a database (ADR 0029).
"""

from __future__ import annotations

__all__ = ["PUBLISHER_DATABASE_URL", "SUBSCRIBER_DATABASE_URL"]

#: vmcaster 0.0.x: a file ``vmcaster.db`` in the current working directory.
PUBLISHER_DATABASE_URL = "sqlite:///vmcaster.db"
#: vmcatcher 0.6: a file ``vmcatcher.db`` in the current working directory.
SUBSCRIBER_DATABASE_URL = "sqlite:///vmcatcher.db"
