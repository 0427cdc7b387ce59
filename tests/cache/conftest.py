"""Fixtures of the cache tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cache.support import CacheSite, build_cache_site
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.support import Site


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


@pytest.fixture
def sqlite_site(tmp_path: Path, test_pki: TestPki) -> Site:
    return Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)


@pytest.fixture
def cache_site(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki, tmp_path: Path
) -> CacheSite:
    """img-a (300 KiB) and img-b (5 KiB), both subscribed."""
    return build_cache_site(
        sqlite_site, server, test_pki.good, tmp_path, {"img-a": 300 * 1024, "img-b": 5 * 1024}
    )
