"""Fixtures of the monitoring tests: the subscriber sites (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.conftest import (  # noqa: F401
    database_url,
    server,
    site,
    sqlite_site,
    sqlite_url,
)
from tests.subscriber.support import Site, World, build_world


@pytest.fixture
def world(site: Site, server: HttpServer, test_pki: TestPki) -> World:  # noqa: F811
    return build_world(site, server, test_pki.good)


@pytest.fixture
def sqlite_world(sqlite_site: Site, server: HttpServer, test_pki: TestPki) -> World:  # noqa: F811
    return build_world(sqlite_site, server, test_pki.good)
