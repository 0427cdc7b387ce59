"""Issue 9 §4: one bad image never stops the others.

Each image's step runs inside its own error boundary: an error undoes that step (files and
index entries as they were), is reported in one line naming the image, and the run goes on with
the next image and sends ProcessPostfix. The exit code is the worst result: a cache step that
failed (1), a bug (70), else 40 for an image that failed to download.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelist.cache import cache as cache_module
from imagelist.cache.index import ManagedDirectory
from imagelist.errors import CacheError
from tests.cache.support import CacheSite, image_bytes
from tests.cache.test_faults import assert_consistent


def _failing_move(monkeypatch: pytest.MonkeyPatch, name: str, error: Exception) -> None:
    """move_file fails for every file called ``name`` (a real rename for the others)."""
    real = cache_module.move_file

    def move(source: Path, destination: Path, *modes: object) -> None:
        if source.name == name or destination.name == name:
            raise error
        real(source, destination, *modes)  # type: ignore[arg-type]

    monkeypatch.setattr(cache_module, "move_file", move)


def test_a_failed_install_is_undone_and_the_others_go_on(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        _failing_move(patch, "img-a", CacheError("cannot move img-a: Permission denied"))
        result = cache_site.cache("-j", "1")
    assert result.code == 1, "a cache step failed: the worst result"
    errors = [line for line in result.err.splitlines() if line.startswith("ERROR")]
    assert errors == ["ERROR: img-a: installing failed: cannot move img-a: Permission denied"]
    assert "Traceback" not in result.err
    assert result.out.startswith("1 downloaded, 0 expired, 1 failed (img-a)")
    assert set(cache_site.index()) == {"img-b"}, "img-b went on"
    assert (cache_site.cache_dir / "partial" / "img-a").read_bytes() == (
        cache_site.contents["img-a"]
    ), "the verified download is kept in partial/"
    kinds = cache_site.event_types()
    assert kinds[-1] == ("ProcessPostfix", "")
    assert ("AvailablePostfix", "img-a") not in kinds
    assert not (cache_site.cache_dir / ".vmcatcher_cache.journal").exists()
    assert_consistent(cache_site)
    # The next run installs it without downloading it again.
    cache_site.clear_log()
    result = cache_site.cache()
    assert result.code == 0, result.err
    assert set(cache_site.index()) == {"img-a", "img-b"}
    assert cache_site.server.hits("/images/img-a") == 1
    assert ("AvailablePostfix", "img-a") in cache_site.event_types()


def test_a_bug_in_one_image_is_one_line_and_exit_70(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_move(monkeypatch, "img-b", RuntimeError("unexpected\nstate"))
    result = cache_site.cache()
    assert result.code == 70
    assert "ERROR: img-b: installing failed: internal error: RuntimeError: unexpected state\n" in (
        result.err
    )
    assert "Traceback" not in result.err
    assert set(cache_site.index()) == {"img-a"}
    assert cache_site.event_types()[-1] == ("ProcessPostfix", "")


def test_a_failed_revocation_keeps_the_image_and_the_run_goes_on(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_site.cache()
    cache_site.publish("2.0", [])  # both revoked
    with monkeypatch.context() as patch:
        _failing_move(patch, "img-a", CacheError("cannot move img-a: Read-only file system"))
        result = cache_site.cache()
    assert result.code == 1
    assert "ERROR: img-a: expiring failed: cannot move img-a: Read-only file system" in result.err
    assert set(cache_site.index()) == {"img-a"}, "img-a is still cached, as before"
    assert (cache_site.cache_dir / "img-a").read_bytes() == cache_site.contents["img-a"]
    assert [k.split(".")[0] for k in cache_site.index("expired")] == ["img-b"]
    assert_consistent(cache_site)
    result = cache_site.cache()
    assert result.code == 0
    assert cache_site.index() == {}


def test_an_index_write_that_fails_in_a_replace_is_undone(
    cache_site: CacheSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files were swapped, then the cache index cannot be written: all goes back."""
    cache_site.cache()
    old = cache_site.contents["img-b"]
    new = image_bytes("img-b v2", 6000)
    cache_site.serve("img-b", new)
    cache_site.describe("img-b", new)
    cache_site.publish("2.0")
    real_save = ManagedDirectory.save

    def save(self: ManagedDirectory) -> None:
        entry = self.entries.get("img-b") or {}
        if self.path == cache_site.cache_dir and entry.get("size") == len(new):
            raise CacheError(f"cannot write {self.index_path}: No space left on device")
        real_save(self)

    cache_site.clear_log()
    with monkeypatch.context() as patch:
        patch.setattr(ManagedDirectory, "save", save)
        result = cache_site.cache()
    assert result.code == 1
    assert "img-b: installing failed: cannot write" in result.err
    assert (cache_site.cache_dir / "img-b").read_bytes() == old, "the old one is back in service"
    assert cache_site.index()["img-b"]["size"] == len(old)
    assert cache_site.index("expired") == {}
    assert not [p for p in (cache_site.cache_dir / "expired").iterdir() if p.name != "cache.index"]
    assert (cache_site.cache_dir / "partial" / "img-b").read_bytes() == new
    kinds = [kind for kind, _ in cache_site.event_types()]
    assert "ExpirePostfix" not in kinds
    assert "AvailablePostfix" not in kinds
    assert_consistent(cache_site)
    result = cache_site.cache()
    assert result.code == 0, result.err
    assert (cache_site.cache_dir / "img-b").read_bytes() == new
