"""Each attack runs against a site that already accepted a good list (tests/subscriber/support.py).

The attacker controls what the server on 127.0.0.1 sends; every test asserts the exit code of
``vmcatcher_subscribe -U`` and that no row of the database changed.
"""

from __future__ import annotations

import pytest

# The backend attacks (test_backend_*.py) use the real Glance, the fake oned and qemu-img.
from tests.backends.conftest import (  # noqa: F401
    cache,
    contract,
    glance,
    glance_server,
    oned,
    qemu_img,
)
from tests.httpserver import HttpServer
from tests.openpgp.conftest import fresh_keyring, good_key, keyring, other_key  # noqa: F401
from tests.pki import TestPki
from tests.subscriber.conftest import database_url, server, site  # noqa: F401
from tests.subscriber.support import Site, World, build_world


@pytest.fixture
def world(site: Site, server: HttpServer, test_pki: TestPki) -> World:  # noqa: F811
    return build_world(site, server, test_pki.good)
