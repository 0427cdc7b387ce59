"""The -s check (D14), pruning expired/, the dry run, giving up, file:// and other schemes."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from tests.cache.support import CacheSite, image_bytes


def test_check_retires_a_corrupt_file_with_expire_events(cache_site: CacheSite) -> None:
    cache_site.cache()
    path = cache_site.cache_dir / "img-a"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    cache_site.clear_log()
    result = cache_site.cache("-s")
    assert result.code == 0
    assert "cached image img-a is corrupt (sha512 differs from the index)" in result.err
    assert "0 downloaded, 1 expired, 0 failed" in result.out
    assert "1 corrupt" in result.out
    assert cache_site.event_types() == [
        ("ProcessPrefix", ""),
        ("ExpirePrefix", "img-a"),
        ("ExpirePostfix", "img-a"),
        ("ProcessPostfix", ""),
    ]
    (corrupt,) = [k for k in cache_site.index("expired") if k.startswith("img-a.")]
    assert (cache_site.cache_dir / "expired" / corrupt).read_bytes() == bytes(data)
    cache_site.clear_log()
    result = cache_site.cache("-s", "-D")
    assert "1 downloaded" in result.out
    assert (cache_site.cache_dir / "img-a").read_bytes() == cache_site.contents["img-a"]


def test_check_finds_a_truncated_file(cache_site: CacheSite) -> None:
    cache_site.cache()
    with (cache_site.cache_dir / "img-b").open("r+b") as handle:
        handle.truncate(10)
    result = cache_site.cache("-s")
    assert "img-b is corrupt (10 bytes instead of 5120)" in result.err
    assert "img-b" not in cache_site.index()


def test_expired_directory_pruned_by_age_and_size(cache_site: CacheSite) -> None:
    cache_site.cache()
    expired = cache_site.cache_dir / "expired"
    index = {}
    for age_days, name in ((40, "old-1.2020-01-01_00-00-00"), (2, "recent"), (1, "newest")):
        (expired / name).write_bytes(b"x" * 1000)
        stamp = time.time() - age_days * 86400
        os.utime(expired / name, (stamp, stamp))
        index[name] = {"filename": name}
    (expired / "cache.index").write_text(json.dumps(index))
    result = cache_site.cache("--expired-max-age", "30")
    assert "1 pruned from expired/" in result.out
    assert set(cache_site.index("expired")) == {"recent", "newest"}
    result = cache_site.cache("--expired-max-size", "1.5K")
    assert set(cache_site.index("expired")) == {"newest"}
    assert sorted(os.listdir(expired)) == ["cache.index", "newest"]
    assert cache_site.cache().out.count("pruned") == 0, "kept forever by default"


def test_dry_run_changes_nothing(cache_site: CacheSite) -> None:
    result = cache_site.cache("--dry-run")
    assert result.code == 0
    lines = result.out.splitlines()
    cache = cache_site.cache_dir
    assert lines[:3] == [f"create\t{cache}", f"create\t{cache}/partial", f"create\t{cache}/expired"]
    url = cache_site.server.url("/images/")
    assert lines[3:] == [
        f"download\timg-a\t307200\t0\t{url}img-a",
        f"download\timg-b\t5120\t0\t{url}img-b",
    ]
    assert not cache.exists()
    assert cache_site.events() == []
    cache_site.cache()
    cache_site.publish("2.0", [cache_site.images["img-b"]])
    lines = cache_site.cache("--dry-run", "-E", "-s").out.splitlines()
    assert lines == ["expire\timg-a\tnot subscribed or no longer available", "check\timg-b"]
    assert "img-a" in cache_site.index()


def test_gives_up_after_max_tries_until_the_list_changes(cache_site: CacheSite) -> None:
    cache_site.server.remove("/images/img-b")
    for _ in range(2):
        result = cache_site.cache("--max-tries", "2", "--retries", "0")
        assert "HTTP 404" in result.err
    result = cache_site.cache("--max-tries", "2")
    assert "img-b: given up until a new list arrives, after 2 failed download attempts" in (
        result.err
    )
    assert "1 given up until the list changes (img-b)" in result.out
    assert result.code == 40
    assert cache_site.server.hits("/images/img-b") == 2
    cache_site.serve("img-b", cache_site.contents["img-b"])
    cache_site.publish("1.1")
    result = cache_site.cache("--max-tries", "2")
    assert result.out.startswith("1 downloaded")


def test_file_urls_are_copied_when_allowed_and_other_schemes_refused(
    cache_site: CacheSite, tmp_path: Path
) -> None:
    source = tmp_path / "img-b.raw"
    content = image_bytes("file image", 3000)
    source.write_bytes(content)
    cache_site.describe("img-b", content, uri=source.as_uri())
    cache_site.describe("img-a", cache_site.contents["img-a"], uri="ftp://host/img-a")
    cache_site.publish("2.0")
    result = cache_site.cache("--max-tries", "0")
    assert "refusing a file: image URI" in result.err, "the list was read over http"
    assert "0 downloaded, 0 expired, 2 failed" in result.out
    result = cache_site.cache("--allow-file-images")
    assert (cache_site.cache_dir / "img-b").read_bytes() == content
    assert "unsupported image URI scheme 'ftp'" in result.err
    assert "1 downloaded, 0 expired, 1 failed" in result.out
    assert hashlib.sha512(content).hexdigest() == cache_site.index()["img-b"]["sha512"]
