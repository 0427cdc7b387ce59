"""``-f json`` of every command has the shape docs/json-output.md documents (tests/json_shapes.py).

The real commands run (the console scripts of this venv, or their ``main`` in-process where the
site fixtures do that) and each document is compared with the doc's example of the same name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cache.support import CacheSite, build_cache_site
from tests.httpserver import HttpServer
from tests.json_shapes import DOC, examples, shape_differences
from tests.pki import TestPki
from tests.subscriber.conftest import server, sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import LIST_ID, Site, World, build_world, make_image, make_list, sign

BIN = Path(sys.executable).parent
README = DOC.parent.parent / "README.md"
DOCUMENTED = {
    "imagelist-verify",
    "imagelist-verify-error",
    "vmcatcher_image-l",
    "vmcatcher_subscribe-l",
    "vmcatcher_subscribe-i",
    "vmcatcher_endorser-l",
    "vmcatcher_endorser-i",
    "vmcatcher_endorser-K",
    "vmcatcher_image-i",
    "vmcatcher_subscribe-image-list",
    "vmcatcher_subscribe-U",
    "vmcatcher_cache",
    "vmcatcher_cache-error",
}


def assert_documented(name: str, document: Any) -> None:
    problems = shape_differences(examples()[name], document)
    assert not problems, f"{name} differs from {DOC.name}: {problems}"


def test_every_example_is_checked_and_the_doc_is_linked() -> None:
    assert set(examples()) == DOCUMENTED
    assert "docs/json-output.md" in README.read_text(encoding="utf-8")


def test_the_shape_check_catches_drift() -> None:
    """The comparison is not vacuous: a renamed key, a changed type, a bad list item all show."""
    example = {"a": 1, "b": [{"c": "x"}], "d": None, "e": 1.5, "f": True}
    assert shape_differences(example, {"a": 2, "b": [], "d": "s", "e": 0.0, "f": False}) == []
    assert shape_differences(example, {**example, "a": "1"}) == ["$.a: str where the doc has int"]
    assert shape_differences(example, {**example, "f": 1}) == ["$.f: int where the doc has bool"]
    assert shape_differences(example, {**example, "b": [{"c": "x"}, {"c": 3}]}) == [
        "$.b[1].c: int where the doc has str"
    ]
    renamed = {key if key != "a" else "A": value for key, value in example.items()}
    assert shape_differences(example, renamed) == ["$: keys missing ['a'], not documented ['A']"]
    assert shape_differences(example, {**example, "d": 3}) == [
        "$.d: int where the doc has null/str"
    ]


def _imagelist(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "imagelist"), *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_imagelist_verify_json(tmp_path: Path, test_pki: TestPki) -> None:
    good = test_pki.good
    signed = sign(make_list(good, images=(make_image("img-a"), make_image("img-b"))), good)
    path = tmp_path / "image.list"
    path.write_bytes(signed)
    trust = ["-c", str(test_pki.trust_dir)]
    ok = _imagelist("verify", str(path), *trust, "-f", "json")
    assert (ok.returncode, ok.stderr) == (0, "")
    document = json.loads(ok.stdout)
    assert_documented("imagelist-verify", document)
    assert document["ok"] is True
    assert document["signer"]["subject"] == good.subject_oneline
    assert document["list"]["identifier"] == LIST_ID
    assert [image["identifier"] for image in document["images"]] == ["img-a", "img-b"]
    text = _imagelist("verify", str(path), *trust)
    assert text.stdout.startswith(f"valid: {LIST_ID} version 1.0, 2 images"), "text unchanged"

    path.write_bytes(signed.replace(b"Test appliances", b"Test appliancex"))
    bad = _imagelist("verify", str(path), *trust, "-f", "json")
    assert bad.returncode == 11
    error = json.loads(bad.stdout)
    assert_documented("imagelist-verify-error", error)
    assert error["exit_code"] == 11
    assert error["ok"] is False
    assert bad.stderr == f"imagelist: error: {error['error']}\n", "the one line still on stderr"

    missing = _imagelist("verify", str(path), "-c", str(tmp_path / "none"), "-f", "json")
    assert (missing.returncode, json.loads(missing.stdout)["exit_code"]) == (14, 14)
    mixed = _imagelist("verify", str(path), *trust, "-f", "json", "--payload", "-")
    assert (mixed.returncode, mixed.stdout) == (1, "")


@pytest.fixture
def world(sqlite_site: Site, server: HttpServer, test_pki: TestPki) -> World:  # noqa: F811
    return build_world(sqlite_site, server, test_pki.good)


def test_vmcatcher_json(world: World, test_pki: TestPki) -> None:
    site = world.site
    images = json.loads(site.image("-l", "-f", "json").out)
    assert_documented("vmcatcher_image-l", images)
    assert images[0] == {
        "image": "img-a",
        "state": 3,
        "subscription": LIST_ID,
        "title": "Image img-a",
        "version": "1",
    }
    listing = json.loads(site.subscribe("-l", "-f", "json").out)
    assert_documented("vmcatcher_subscribe-l", listing)
    assert listing[0]["uri.trustAnchor"] == "none", "not Python's None"
    info = json.loads(site.subscribe("-i", "-u", LIST_ID, "-f", "json").out)
    assert_documented("vmcatcher_subscribe-i", info)
    assert info["ImageListInstance"]["expired"] is None, "null, not false"
    endorsers = json.loads(site.endorser("-l", "-f", "json").out)
    assert_documented("vmcatcher_endorser-l", endorsers)
    principal = {"subject": test_pki.good.subject_oneline, "issuer": test_pki.good.issuer_oneline}
    assert endorsers[0]["principals"] == endorsers[0]["princibles"] == [principal]
    endorser = json.loads(site.endorser("-i", "-e", "endorser-1", "-f", "json").out)
    assert_documented("vmcatcher_endorser-i", endorser)
    assert endorser["principals"] == [principal]
    assert_documented("vmcatcher_endorser-K", json.loads(site.endorser("-K", "-f", "json").out))
    image = json.loads(site.image("-i", "-u", "img-a", "-f", "json").out)
    assert_documented("vmcatcher_image-i", image)
    with_images = json.loads(site.subscribe("--image-list", "-f", "json").out)
    assert_documented("vmcatcher_subscribe-image-list", with_images)
    assert [item["title"] for item in with_images["images"]] == ["Image img-a", "Image img-b"]
    world.publish(world.make(version="1.1", images=(world.images[0], make_image("img-new"))))
    dry = json.loads(site.subscribe("-U", "--dry-run", "-f", "json").out)
    assert_documented("vmcatcher_subscribe-U", dry)
    assert {"change": "revoked", "image": "img-b"} in dry[0]["changes"]
    updated = json.loads(site.subscribe("-U", "-x", "true", "-f", "json").out)
    assert_documented("vmcatcher_subscribe-U", updated)
    assert (updated[0]["exit_code"], updated[0]["dry_run"]) == (32, False), "img-new refused"
    assert updated[0]["events"], "the handler's results are there to be checked"
    assert all(event["ok"] for event in updated[0]["events"])


@pytest.fixture
def cache_site(
    sqlite_site: Site,  # noqa: F811
    server: HttpServer,  # noqa: F811
    test_pki: TestPki,
    tmp_path: Path,
) -> CacheSite:
    """img-a (300 KiB) and img-b (5 KiB), both subscribed."""
    sizes = {"img-a": 300 * 1024, "img-b": 5 * 1024}
    return build_cache_site(sqlite_site, server, test_pki.good, tmp_path, sizes)


def test_vmcatcher_cache_json(cache_site: CacheSite, tmp_path: Path) -> None:
    good = cache_site.contents["img-b"]
    cache_site.serve("img-b", b"x" * 5 * 1024)  # the right size, the wrong sha512
    failed = cache_site.cache("-f", "json")
    assert failed.code == 40, failed.err
    document = json.loads(failed.out)
    assert_documented("vmcatcher_cache", document)
    assert (document["ok"], document["exit_code"]) == (False, 40)
    assert document["summary"]["downloaded"] == document["summary"]["failed"] == 1
    results = {image["identifier"]: image for image in document["images"]}
    assert results["img-a"] == {"identifier": "img-a", "result": "downloaded", "error": None}
    assert results["img-b"]["result"] == "failed"
    assert "sha512" in results["img-b"]["error"]
    assert "1 downloaded" not in failed.out, "the JSON replaces the summary line"

    cache_site.serve("img-b", good)
    fixed = json.loads(cache_site.cache("-f", "json", "-q").out)
    assert (fixed["ok"], fixed["exit_code"], fixed["skipped"]) == (True, 0, None)
    assert fixed["images"] == [{"identifier": "img-b", "result": "downloaded", "error": None}]

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    broken = cache_site.cache("-f", "json", "-C", str(not_a_dir / "cache"))
    error = json.loads(broken.out)
    assert_documented("vmcatcher_cache-error", error)
    assert error["exit_code"] == broken.code != 0
    assert broken.err.splitlines()[-1] == f"vmcatcher_cache: error: {error['error']}"

    mixed = cache_site.cache("-f", "json", "--dry-run")
    assert mixed.code == 1
    assert json.loads(mixed.out)["error"] == "-f json is for a cache run, not with --dry-run"


def test_vmcatcher_cache_json_when_interrupted(cache_site: CacheSite) -> None:
    """SIGTERM mid-download with -f json: the error document with 130, the line on stderr."""
    cache_site.serve("img-a", cache_site.contents["img-a"], rate=30 * 1024)
    partial = cache_site.cache_dir / "partial" / "img-a"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMCATCHER_")}
    run = "import sys; from imagelist.cli.vmcatcher_cache import main; sys.exit(main())"
    process = subprocess.Popen(
        [
            *(sys.executable, "-c", run, "-d", cache_site.site.database),
            *("-C", str(cache_site.cache_dir), "-x", cache_site.handler, "-f", "json", "-j", "1"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size == 0):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    document = json.loads(out)
    assert_documented("vmcatcher_cache-error", document)
    assert document["exit_code"] == 130
    assert err == f"vmcatcher_cache: {document['error']}\n"
    assert "partial file kept: the next run resumes (img-a)" in err
