"""Attack: links planted in the cache's directories, aiming outside the cache.

Whoever can write into ``cache/``, ``partial/`` or ``expired/`` (a handler running as another
user, a group-writable directory) plants a symbolic link to a file or a directory, or a hard link
to a file, under an image's name. Before, a link in ``partial/`` was followed: the target was
resumed, truncated and overwritten with the image, and the link itself then installed as the
image; a link in ``cache/`` was hashed and handed to the cloud. Now nothing is followed: the
entry is moved to ``<directory>/.quarantine/`` with one warning, the image is fetched again, and
the file outside is untouched (ADR 0010). On SQLite and PostgreSQL: the database stays as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cache.support import CacheSite, build_cache_site
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.security.cache_support import (
    Outside,
    attack_run,
    describe,
    one_warning,
    quarantined,
    tree,
)
from tests.subscriber.support import Site

Plant = Callable[[Path, Outside], None]


def symlink_to_file(path: Path, outside: Outside) -> None:
    path.symlink_to(outside.file)


def symlink_to_directory(path: Path, outside: Outside) -> None:
    path.symlink_to(outside.directory, target_is_directory=True)


def hard_link(path: Path, outside: Outside) -> None:
    os.link(outside.file, path)


PLANTS = {
    "symlink-to-file": (symlink_to_file, "a symbolic link"),
    "symlink-to-directory": (symlink_to_directory, "a symbolic link"),
    "hard-link": (hard_link, "a file with 2 hard links"),
}


@pytest.fixture
def cache_site(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
) -> CacheSite:
    return build_cache_site(
        site, server, test_pki.good, tmp_path, {"img-a": 64 * 1024, "img-b": 5 * 1024}
    )


@pytest.fixture
def outside(tmp_path: Path) -> Outside:
    place = Outside(tmp_path / "outside")
    place.create()
    return place


def _warning_pattern(directory: Path, name: str, reason: str) -> re.Pattern[str]:
    return re.compile(
        rf"WARNING: {re.escape(str(directory / name))} is {re.escape(reason)}; not followed, "
        rf"moved to \.quarantine/{re.escape(name)}\.\d{{8}}T\d{{6}}"
    )


def _assert_clean(cache_site: CacheSite, expected: dict[str, tuple[object, ...]]) -> None:
    """The cache outside its quarantine is ``expected``: only regular, singly linked files."""
    assert tree(cache_site.cache_dir) == expected
    for directory, _, files in os.walk(cache_site.cache_dir):
        if ".quarantine" in Path(directory).parts:
            continue
        for name in files:
            info = os.lstat(Path(directory) / name)
            assert info.st_nlink == 1
            assert not os.path.islink(Path(directory) / name)


@pytest.mark.parametrize("plant", PLANTS)
def test_a_link_in_partial_is_never_written_through(
    cache_site: CacheSite, outside: Outside, plant: str
) -> None:
    partial = cache_site.cache_dir / "partial"
    partial.mkdir(parents=True)
    make, reason = PLANTS[plant]
    make(partial / "img-a", outside)
    planted = describe(partial / "img-a")

    result = attack_run(cache_site)

    assert result.code == 0, result.err
    assert result.out.startswith("2 downloaded, 0 expired, 0 failed")
    line = one_warning(result, "partial/img-a is")
    assert _warning_pattern(partial, "img-a", reason).fullmatch(line), line
    outside.assert_untouched()
    assert quarantined(cache_site.cache_dir) == [planted]
    assert (cache_site.cache_dir / "img-a").read_bytes() == cache_site.contents["img-a"]
    assert set(cache_site.index()) == {"img-a", "img-b"}
    _assert_clean(cache_site, tree(cache_site.cache_dir))


@pytest.mark.parametrize("plant", PLANTS)
def test_a_link_in_cache_is_quarantined_and_the_image_fetched_again(
    cache_site: CacheSite, outside: Outside, plant: str
) -> None:
    assert cache_site.cache().code == 0
    before = tree(cache_site.cache_dir)
    (cache_site.cache_dir / "img-a").unlink()
    make, reason = PLANTS[plant]
    make(cache_site.cache_dir / "img-a", outside)
    planted = describe(cache_site.cache_dir / "img-a")
    cache_site.clear_log()

    result = attack_run(cache_site, "-s", "-D")

    assert result.code == 0, result.err
    assert result.out.startswith("1 downloaded, 0 expired, 0 failed")
    line = one_warning(result, "img-a is")
    assert _warning_pattern(cache_site.cache_dir, "img-a", reason).fullmatch(line), line
    outside.assert_untouched()
    assert quarantined(cache_site.cache_dir) == [planted]
    _assert_clean(cache_site, before)
    expire_events = [e for e in cache_site.event_types() if e[0].startswith("Expire")]
    assert expire_events == [], "the link is never announced to the cloud as an image"


@pytest.mark.parametrize("plant", PLANTS)
def test_a_link_in_expired_is_quarantined_and_its_entry_dropped(
    cache_site: CacheSite, outside: Outside, plant: str
) -> None:
    assert cache_site.cache().code == 0
    cache_site.publish("2.0", [cache_site.images["img-b"]])
    assert cache_site.cache().code == 0
    expired = cache_site.cache_dir / "expired"
    (name,) = cache_site.index("expired")
    before = tree(cache_site.cache_dir)
    index_before = cache_site.index("expired")
    (expired / name).unlink()
    make, reason = PLANTS[plant]
    make(expired / name, outside)
    planted = describe(expired / name)

    result = attack_run(cache_site, "--expired-max-age", "0")

    assert result.code == 0, result.err
    line = one_warning(result, f"{name} is")
    assert _warning_pattern(expired, name, reason).fullmatch(line), line
    outside.assert_untouched()
    assert quarantined(cache_site.cache_dir) == [planted]
    del index_before[name]
    assert cache_site.index("expired") == index_before, "only the quarantined entry is gone"
    after = tree(cache_site.cache_dir)
    _assert_clean(cache_site, after)
    del before[f"expired/{name}"], before["expired/cache.index"], after["expired/cache.index"]
    assert after == before


def test_a_planted_lock_link_is_not_truncated(cache_site: CacheSite, outside: Outside) -> None:
    cache_site.cache_dir.mkdir()
    (cache_site.cache_dir / ".vmcatcher_cache.lock").symlink_to(outside.file)
    result = attack_run(cache_site)
    assert result.code == 1
    assert result.err.startswith("vmcatcher_cache: error: cannot open lock file ")
    assert len(result.err.splitlines()) == 1
    outside.assert_untouched()


def test_a_planted_index_temporary_link_is_not_written_through(
    cache_site: CacheSite, outside: Outside
) -> None:
    """The index's temporary name is predictable (pid, thread): a dangling link there, which
    the start-up clean-up leaves alone, would have had the index written outside."""
    import threading

    cache_site.cache_dir.mkdir()
    name = f".cache.index.tmp-{os.getpid()}-{threading.get_ident()}"
    (cache_site.cache_dir / name).symlink_to(outside.root / "written-by-the-cache")
    result = attack_run(cache_site)
    assert result.code == 0, result.err
    assert not (outside.root / "written-by-the-cache").exists()
    outside.assert_untouched()
    assert set(cache_site.index()) == {"img-a", "img-b"}
    assert not os.path.lexists(cache_site.cache_dir / name)


def test_a_planted_quarantine_link_does_not_carry_the_quarantine_outside(
    cache_site: CacheSite, outside: Outside
) -> None:
    partial = cache_site.cache_dir / "partial"
    partial.mkdir(parents=True)
    (partial / ".quarantine").symlink_to(outside.directory, target_is_directory=True)
    (partial / "img-a").symlink_to(outside.file)

    result = attack_run(cache_site)

    assert result.code == 0, result.err
    assert f"WARNING: {partial / '.quarantine'} is not a directory; replaced" in result.err
    outside.assert_untouched()
    assert quarantined(cache_site.cache_dir) == [("link", str(outside.file))]
    assert (cache_site.cache_dir / "img-a").read_bytes() == cache_site.contents["img-a"]


@pytest.mark.parametrize("name", ["cache.index", ".vmcatcher_cache.journal"])
def test_a_linked_index_or_journal_stops_the_run_and_is_left_alone(
    cache_site: CacheSite, outside: Outside, name: str
) -> None:
    assert cache_site.cache().code == 0
    (cache_site.cache_dir / name).unlink(missing_ok=True)
    (cache_site.cache_dir / name).symlink_to(outside.file)
    before = tree(cache_site.cache_dir)
    cache_site.clear_log()

    result = attack_run(cache_site)

    assert result.code == 1
    assert len(result.err.splitlines()) == 1, result.err
    assert result.err.startswith("vmcatcher_cache: error: cannot read ")
    assert result.err.rstrip().endswith(
        "it is a symbolic link (not followed; left as it is)"
        if name == "cache.index"
        else "it is a symbolic link"
    ), result.err
    outside.assert_untouched()
    assert tree(cache_site.cache_dir) == before
    assert "ProcessPostfix" not in [kind for kind, _ in cache_site.event_types()]
