"""Crash safety: whatever state a kill -9 leaves, the next run makes the cache consistent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imagelist.cache import cache as cache_module
from imagelist.cache.journal import Journal, Step
from imagelist.errors import CacheError
from tests.cache.support import CacheSite
from tests.cache.test_faults import assert_consistent


class Crash(BaseException):
    """Stands for kill -9 at one point of a step."""


def _crash_after(monkeypatch: pytest.MonkeyPatch, target: object, name: str, calls: int) -> None:
    """Let ``target.name`` run ``calls`` times, then crash right after the next call."""
    original = getattr(target, name)
    count = {"n": 0}

    def wrapper(*args: object, **kwargs: object) -> object:
        result = original(*args, **kwargs)
        count["n"] += 1
        if count["n"] > calls:
            raise Crash
        return result

    monkeypatch.setattr(target, name, wrapper)


@pytest.mark.parametrize(
    ("where", "calls"),
    [("begin", 0), ("move_file", 0), ("save", 0), ("save", 1)],
)
def test_crash_while_installing_is_completed_next_run(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch, where: str, calls: int
) -> None:
    with monkeypatch.context() as patch:
        if where == "begin":
            _crash_after(patch, Journal, "begin", calls)
        elif where == "move_file":
            _crash_after(patch, cache_module, "move_file", calls)
        else:
            _crash_after(patch, cache_module.ManagedDirectory, "save", 3 + calls)
        with pytest.raises(Crash):
            cache_site.cache("-j", "1")
    cache_site.clear_log()
    result = cache_site.cache("-j", "1")
    assert result.code == 0, result.err
    assert_consistent(cache_site)
    assert set(cache_site.index()) == {"img-a", "img-b"}
    postfix = [i for t, i in cache_site.event_types() if t == "AvailablePostfix"]
    assert sorted(postfix) == ["img-a", "img-b"], "the owed AvailablePostfix is sent"
    assert not (cache_site.cache_dir / ".vmcatcher_cache.journal").exists()


@pytest.mark.parametrize("where", ["begin", "move_file", "save"])
def test_crash_while_expiring_is_completed_next_run(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    cache_site.cache()
    cache_site.publish("2.0", [cache_site.images["img-b"]])
    with monkeypatch.context() as patch:
        if where == "begin":
            _crash_after(patch, Journal, "begin", 0)
        elif where == "move_file":
            _crash_after(patch, cache_module, "move_file", 0)
        else:
            _crash_after(patch, cache_module.ManagedDirectory, "save", 0)
        with pytest.raises(Crash):
            cache_site.cache()
    cache_site.clear_log()
    result = cache_site.cache()
    assert result.code == 0, result.err
    assert_consistent(cache_site)
    assert set(cache_site.index()) == {"img-b"}
    expired = [k for k in cache_site.index("expired") if k.startswith("img-a.")]
    assert len(expired) == 1
    assert ("ExpirePostfix", "img-a") in cache_site.event_types()


def test_stray_and_missing_files_are_reconciled(cache_site: CacheSite) -> None:
    cache_site.cache()
    (cache_site.cache_dir / "img-b").unlink()  # someone deleted a cached image
    (cache_site.cache_dir / "notes.txt").write_text("an admin's file")
    (cache_site.cache_dir / "partial" / "orphan").write_bytes(b"x")
    (cache_site.cache_dir / ".cache.index.tmp-1-2").write_text("{")
    (cache_site.cache_dir / "expired" / "keep-me").write_text("left alone")
    result = cache_site.cache()
    assert result.out.startswith("1 downloaded"), "img-b is downloaded again"
    assert_consistent(cache_site)
    assert not (cache_site.cache_dir / "partial" / "orphan").exists()
    assert not (cache_site.cache_dir / ".cache.index.tmp-1-2").exists()
    moved = [k for k in cache_site.index("expired") if k.startswith("notes.txt.")]
    assert len(moved) == 1, "a foreign file is moved aside, not deleted"
    assert (cache_site.cache_dir / "expired" / moved[0]).read_text() == "an admin's file"
    assert (cache_site.cache_dir / "expired" / "keep-me").exists()


def test_an_unindexed_verified_image_is_adopted(cache_site: CacheSite) -> None:
    """A crash between the rename into cache/ and the index write, without a journal."""
    cache_site.cache()
    entry = cache_site.index()["img-a"]
    index = cache_site.index()
    del index["img-a"]
    (cache_site.cache_dir / "cache.index").write_text(json.dumps(index))
    (cache_site.cache_dir / "partial" / "cache.index").write_text(json.dumps({"img-a": entry}))
    cache_site.clear_log()
    result = cache_site.cache()
    assert result.out.startswith("0 downloaded")
    assert set(cache_site.index()) == {"img-a", "img-b"}
    assert cache_site.server.hits("/images/img-a") == 1
    assert ("AvailablePostfix", "img-a") in cache_site.event_types()


def test_a_corrupt_index_is_a_one_line_error(cache_site: CacheSite) -> None:
    cache_site.cache_dir.mkdir()
    (cache_site.cache_dir / "cache.index").write_text("{not json")
    result = cache_site.cache()
    assert result.code == 1
    assert result.err.startswith("vmcatcher_cache: error: ")
    assert "cache.index is not valid JSON" in result.err
    (cache_site.cache_dir / "cache.index").write_text("[]")
    assert "not a JSON object of entries" in cache_site.cache().err


def test_unknown_journal_step_and_unreadable_journal(cache_site: CacheSite) -> None:
    cache_site.cache_dir.mkdir()
    journal = Journal(cache_site.cache_dir)
    journal.begin(Step("teleport", "img-a", "img-a", {}))
    assert cache_site.cache().code == 0
    assert journal.pending() is None
    journal.path.write_text("nonsense")
    result = cache_site.cache()
    assert result.code == 1
    assert "cannot read the cache journal" in result.err


def test_move_across_filesystems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    source = tmp_path / "a"
    source.write_bytes(b"image")
    (tmp_path / "d").mkdir()
    real_rename = os.rename
    calls = {"n": 0}

    def rename(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    cache_module.move_file(source, tmp_path / "d" / "a")
    assert (tmp_path / "d" / "a").read_bytes() == b"image"
    assert not source.exists()
    with pytest.raises(CacheError, match="cannot move"):
        cache_module.move_file(tmp_path / "missing", tmp_path / "d" / "b")
