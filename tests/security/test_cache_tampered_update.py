"""A tampered or withheld update cannot take a working image away (issue 10 §2, §1).

The attacker controls the image server (or a mirror): the list announces a new version of a
cached image, and the server sends other bytes, or nothing. Before, vmcatcher_cache retired the
old file first (Expire events: the cloud removed its only working copy) and, after five failed
tries, gave the image up with exit 0. Now the cache, its indexes and the handler see nothing
change; every run exits 40 and names the image.
"""

from __future__ import annotations

import hashlib

from tests.cache.conftest import cache_site, server, sqlite_site  # noqa: F401
from tests.cache.support import CacheSite, image_bytes


def _snapshot(site: CacheSite) -> dict[str, object]:
    """The image files of cache/ and expired/, img-b's index entry, expired/'s index.

    (img-a's entry legitimately takes the new list's text: it is the same image.)
    """
    root = site.cache_dir
    files: dict[str, object] = {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.parent.name != "partial"
        and not path.name.startswith(".")
        and path.name != "cache.index"
    }
    files["img-b entry"] = site.index()["img-b"]
    files["expired index"] = site.index("expired")
    return files


def test_a_tampered_update_leaves_the_cache_and_the_cloud_as_they_were(
    cache_site: CacheSite,  # noqa: F811
) -> None:
    cache_site.cache()
    before = _snapshot(cache_site)
    new = image_bytes("img-b, the real version 2", 6000)
    cache_site.describe("img-b", new)
    cache_site.publish("2.0")
    cache_site.server.put("/images/img-b", b"\x00" * len(new))  # the attacker's bytes
    for run in range(1, 4):
        cache_site.clear_log()
        result = cache_site.cache("--max-tries", "2")
        assert result.code == 40
        errors = [line for line in result.err.splitlines() if line.startswith("ERROR")]
        assert len(errors) == 1, errors
        if run <= 2:
            assert "img-b: sha512 of the 6000 bytes received is not the list's" in errors[0]
            assert "1 failed (img-b)" in result.out
        else:
            assert "img-b: given up until a new list arrives, after 2 failed" in errors[0]
            assert "(the cached version stays in service)" in errors[0]
            assert "1 given up until the list changes (img-b)" in result.out
        assert _snapshot(cache_site) == before, "cache and indexes unchanged"
        assert cache_site.event_types() == [("ProcessPrefix", ""), ("ProcessPostfix", "")]
    cached = (cache_site.cache_dir / "img-b").read_bytes()
    assert hashlib.sha512(cached).hexdigest() == cache_site.index()["img-b"]["sha512"]
