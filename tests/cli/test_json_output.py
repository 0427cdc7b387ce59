"""``-f json`` of every command has the shape docs/json-output.md documents (tests/json_shapes.py).

The real commands run (the console scripts of this venv, or their ``main`` in-process where the
site fixtures do that) and each document is compared with the doc's example of the same name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
