"""Attack: index keys, file names and journal steps that would lead outside the cache.

``cache.index`` and the journal are files in the cache directory; whoever can write there can
put ``../../x`` into them. Before, such a key in ``cache/cache.index`` made expiry move a cached
image out of the tree; in ``partial/cache.index`` it made the run delete the file it named; in the
journal it made recovery move an outside file into the cache. Now every key and file name must
be a safe name before a path is built: a hostile entry is moved to ``.quarantine/`` (the index
loses only that entry), a hostile journal step is ignored, and nothing outside changes
(ADR 0010). On SQLite and PostgreSQL: the database stays as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagelist.cache.journal import Journal, Step
from tests.cache.support import CacheSite, build_cache_site
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.security.cache_support import Outside, attack_run, one_warning, tree
from tests.subscriber.support import Site

#: Relative keys resolve (from cache/ or cache/partial/) inside tmp_path. ABSOLUTE stands for the
#: absolute path of the outside file: never a real system file, so that running these tests
#: against a vulnerable cache (as root) harms nothing but tmp_path.
ABSOLUTE = "<absolute path of outside/precious.conf>"
HOSTILE_KEYS = [
    "../../outside/precious.conf",
    "../img-a",
    ABSOLUTE,
    ".vmcatcher_cache.journal",
    "img-a/../../../outside/precious.conf",
    "img a; touch pwned",
]


def _key(key: str, outside: Outside) -> str:
    return str(outside.file) if key == ABSOLUTE else key


@pytest.fixture
def cache_site(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
) -> CacheSite:
    built = build_cache_site(
        site, server, test_pki.good, tmp_path, {"img-a": 16 * 1024, "img-b": 5 * 1024}
    )
    assert built.cache().code == 0
    built.clear_log()
    return built


@pytest.fixture
def outside(tmp_path: Path) -> Outside:
    place = Outside(tmp_path / "outside")
    place.create()
    return place


def _write_index(path: Path, entries: dict[str, Any]) -> None:
    path.write_text(json.dumps(entries, sort_keys=True, indent=4))


def _rejected(directory: Path) -> dict[str, Any]:
    (found,) = (directory / ".quarantine").glob("cache.index.rejected-*")
    data: dict[str, Any] = json.loads(found.read_text())
    return data


def _assert_warned(result_err: str, index: Path, key: str) -> None:
    lines = [line for line in result_err.splitlines() if "names no file of the directory" in line]
    assert lines == [
        f"WARNING: {index}: index entry {key[:80]!r} names no file of the directory; not used, "
        f"moved to .quarantine/{next((index.parent / '.quarantine').iterdir()).name}"
    ]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_a_hostile_key_in_cache_index_is_quarantined_not_expired(
    cache_site: CacheSite, outside: Outside, key: str
) -> None:
    key = _key(key, outside)
    index = cache_site.cache_dir / "cache.index"
    entries = json.loads(index.read_text())
    hostile = dict(entries["img-b"])  # names a real file: before, expiry moved it to ../../
    entries[key] = hostile
    _write_index(index, entries)
    before = tree(cache_site.cache_dir)
    del before["cache.index"]

    result = attack_run(cache_site)

    assert result.code == 0, result.err
    assert result.out.startswith("0 downloaded, 0 expired, 0 failed")
    _assert_warned(result.err, index, key)
    outside.assert_untouched()
    assert not (cache_site.root / "img-b").exists()
    assert not list(cache_site.root.glob("*.20*"))
    assert _rejected(cache_site.cache_dir) == {key: hostile}
    assert set(cache_site.index()) == {"img-a", "img-b"}
    after = tree(cache_site.cache_dir)
    del after["cache.index"]
    assert after == before, "every file stays where it was"
    assert cache_site.event_types() == [("ProcessPrefix", ""), ("ProcessPostfix", "")]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_a_hostile_key_in_partial_index_deletes_nothing(
    cache_site: CacheSite, outside: Outside, key: str
) -> None:
    """Before, a partial entry no longer planned had ``partial/<key>`` deleted: any file."""
    key = _key(key, outside)
    partial = cache_site.cache_dir / "partial"
    _write_index(partial / "cache.index", {key: {"filename": key, "dc:identifier": "x"}})
    before = tree(cache_site.cache_dir)
    del before["partial/cache.index"]

    result = attack_run(cache_site)

    assert result.code == 0, result.err
    _assert_warned(result.err, partial / "cache.index", key)
    outside.assert_untouched()
    assert (cache_site.cache_dir / "img-a").read_bytes() == cache_site.contents["img-a"]
    assert _rejected(partial) == {key: {"filename": key, "dc:identifier": "x"}}
    assert json.loads((partial / "cache.index").read_text()) == {}
    after = tree(cache_site.cache_dir)
    del after["partial/cache.index"]
    assert after == before


@pytest.mark.parametrize("filename", ["../../outside/precious.conf", ABSOLUTE, "img-b"])
def test_a_hostile_filename_is_quarantined(
    cache_site: CacheSite, outside: Outside, filename: str
) -> None:
    """In cache/ the filename must be the key: img-a naming img-b would expire img-b's file."""
    filename = _key(filename, outside)
    index = cache_site.cache_dir / "cache.index"
    entries = json.loads(index.read_text())
    entries["img-a"]["filename"] = filename
    _write_index(index, entries)
    hostile = entries["img-a"]

    result = attack_run(cache_site)

    assert result.code == 0, result.err
    _assert_warned(result.err, index, "img-a")
    outside.assert_untouched()
    assert _rejected(cache_site.cache_dir) == {"img-a": hostile}
    assert (cache_site.cache_dir / "img-b").read_bytes() == cache_site.contents["img-b"]
    # img-a's own file has no entry any more: as any unindexed file, retired to expired/, and
    # img-a is fetched again.
    assert result.out.startswith("1 downloaded, 0 expired, 0 failed")
    assert set(cache_site.index()) == {"img-b", "img-a"}
    (retired,) = cache_site.index("expired")
    assert retired.startswith("img-a.")
    assert (cache_site.cache_dir / "img-a").read_bytes() == cache_site.contents["img-a"]


def test_a_hostile_key_in_expired_index_is_quarantined(
    cache_site: CacheSite, outside: Outside
) -> None:
    expired = cache_site.cache_dir / "expired"
    key = "../../outside/precious.conf"
    _write_index(expired / "cache.index", {key: {"filename": key}})

    result = attack_run(cache_site, "--expired-max-age", "0")

    assert result.code == 0, result.err
    _assert_warned(result.err, expired / "cache.index", key)
    outside.assert_untouched()
    assert _rejected(expired) == {key: {"filename": key}}


@pytest.mark.parametrize("op", ["install", "expire"])
def test_a_hostile_journal_step_moves_nothing(
    cache_site: CacheSite, outside: Outside, op: str
) -> None:
    """Before, recovery moved ``cache/../outside/...`` into expired/ (or partial/.. into cache/)."""
    key = "../outside/precious.conf" if op == "expire" else "../../outside/precious.conf"
    Journal(cache_site.cache_dir).begin(Step(op, key, "img-z.2026-01-01_00-00-00", {}))
    before = tree(cache_site.cache_dir)
    del before[".vmcatcher_cache.journal"]

    result = attack_run(cache_site)

    assert result.code == 0, result.err
    line = one_warning(result, "cache journal")
    assert line == f"ERROR: the cache journal names no file of the cache: {key!r}; ignored"
    outside.assert_untouched()
    assert tree(cache_site.cache_dir) == before
    assert not any(e[0].endswith("Postfix") and e[1] for e in cache_site.event_types())


def test_an_unsafe_file_name_in_cache_is_quarantined(
    cache_site: CacheSite, outside: Outside
) -> None:
    stray = cache_site.cache_dir / "-rf $(id)\nVMCATCHER_EVENT_TYPE=x"
    stray.write_bytes(b"stray")
    result = attack_run(cache_site)
    assert result.code == 0, result.err
    line = one_warning(result, "whose name no image can have")
    assert line.startswith(f"WARNING: {cache_site.cache_dir}/'-rf $(id)\\nVMCATCHER_EVENT")
    assert not stray.exists()
    (kept,) = (cache_site.cache_dir / ".quarantine").iterdir()
    assert kept.read_bytes() == b"stray"
    assert kept.name.startswith("unsafe-name.")
    outside.assert_untouched()
