"""What the cache creates is not readable by everyone: directories 0750, files 0640.

0.6 left modes to the umask (often 022: images and indexes world-readable, directories
world-listable). Now the cache creates directories with 0750 and files with 0640, the umask
applying on top, and ``--dir-mode``/``--file-mode`` change that (ADR 0010).
"""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelist.cli import vmcatcher_cache
from tests.cache.support import CacheSite, build_cache_site
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.conftest import sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import Site


@pytest.fixture
def cache_site(
    sqlite_site: Site,  # noqa: F811
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
) -> CacheSite:
    return build_cache_site(
        sqlite_site, server, test_pki.good, tmp_path, {"img-a": 16 * 1024, "img-b": 5 * 1024}
    )


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    found = {}
    for directory, subdirectories, files in os.walk(root):
        for name in [*subdirectories, *files]:
            path = Path(directory) / name
            found[str(path.relative_to(root))] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


@pytest.mark.usefixtures("umask_022")
def test_directories_0750_and_files_0640_by_default(cache_site: CacheSite) -> None:
    cache_site.publish("2.0", [cache_site.images["img-a"]])  # so that expired/ gets a file
    assert cache_site.cache().code == 0
    cache_site.images.pop("img-b")
    cache_site.publish("3.0")
    result = cache_site.cache()
    assert result.code == 0, result.err
    modes = _modes(cache_site.cache_dir)
    assert stat.S_IMODE(os.stat(cache_site.cache_dir).st_mode) == 0o750
    expected = {"partial": 0o750, "expired": 0o750}
    for name in ("img-a", "cache.index", "partial/cache.index", "expired/cache.index"):
        expected[name] = 0o640
    for name, mode in modes.items():
        if name in expected:
            assert mode == expected.pop(name), name
        elif not name.startswith("."):
            assert mode == 0o640, name  # expired/img-b.<time>
        else:
            assert mode & 0o007 == 0, name  # lock, outbox: nothing for others
    assert expected == {}


@pytest.mark.usefixtures("umask_022")
def test_modes_can_be_configured_and_the_umask_applies(cache_site: CacheSite) -> None:
    result = cache_site.cache("--dir-mode", "0775", "--file-mode", "0664")
    assert result.code == 0, result.err
    modes = _modes(cache_site.cache_dir)
    assert modes["partial"] == 0o755
    assert modes["img-a"] == 0o644
    assert modes["cache.index"] == 0o644


@pytest.mark.parametrize("text", ["rw-r-----", "1777", "0x1ed", "-1", ""])
def test_only_octal_permission_bits_are_accepted(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid mode"):
        vmcatcher_cache._mode(text)
    assert vmcatcher_cache._mode("0750") == 0o750
    assert vmcatcher_cache._mode("640") == 0o640
