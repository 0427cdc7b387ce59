"""Attack: a list fetched over http(s) names a local file (or redirects to one) as an image.

Before, ``hv:uri = file:///etc/...`` in a list from the network made vmcatcher_cache copy a
local file into the cache (and announce it to the cloud), and on a mismatch the message told the
list's author the file's size. Now image URIs are http or https; ``file:`` only for lists read
from a ``file:`` URL or with ``--allow-file-images``; nothing is said about the path (ADR 0010).
Run on SQLite and PostgreSQL: the cache reads the subscription's URL from the database and must
leave every row as it was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.cache.support import CacheSite, build_cache_site, image_bytes
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.security.cache_support import IMAGE_FAILED_EXIT, one_warning, tree
from tests.subscriber.support import Site, World, make_image, make_list, sign

REFUSED = (
    "ERROR: img-b: refusing a file: image URI: the list was not read from a file: URL "
    "(see --allow-file-images)"
)
SECRET = b"root:$6$not-for-the-cloud\n" * 40


@pytest.fixture
def http_site(site: Site, server: HttpServer, test_pki: TestPki, tmp_path: Path) -> CacheSite:
    """img-a cached from the http list; img-b (not yet subscribed) about to be pointed away."""
    cache_site = build_cache_site(
        site,
        server,
        test_pki.good,
        tmp_path,
        {"img-a": 8 * 1024, "img-b": 4 * 1024},
        subscribe=["img-a"],
    )
    assert cache_site.cache().code == 0
    return cache_site


def _point_img_b_at(cache_site: CacheSite, uri: str, content: bytes) -> None:
    """Publish img-b with ``uri``, let the cache take in the new list, then subscribe img-b."""
    cache_site.describe("img-b", content, uri=uri)
    cache_site.publish("2.0")
    assert cache_site.cache().code == 0  # the index of img-a now holds list 2.0
    assert cache_site.site.image("-a", "-u", "img-b").code == 0
    cache_site.clear_log()


def _assert_nothing_happened(
    cache_site: CacheSite, before: dict[str, tuple[object, ...]], result_err: str
) -> None:
    after = tree(cache_site.cache_dir)
    after.pop("partial/cache.index", None)  # the refused try is counted (as every failed try)
    assert after == before, "cache/ and expired/ (files and indexes) are unchanged"
    assert not (cache_site.cache_dir / "partial" / "img-b").exists()
    assert "Traceback" not in result_err


@pytest.mark.parametrize("variant", ["same-content", "other-size", "missing", "directory"])
def test_a_file_image_in_an_http_list_is_refused_and_nothing_said_about_it(
    http_site: CacheSite, tmp_path: Path, variant: str
) -> None:
    secret = tmp_path / "etc" / "shadow"
    secret.parent.mkdir()
    if variant in ("same-content", "other-size"):
        secret.write_bytes(SECRET)
    elif variant == "directory":
        secret.mkdir()
    described = SECRET if variant != "other-size" else SECRET + b"x"
    _point_img_b_at(http_site, secret.as_uri(), described)
    before = tree(http_site.cache_dir)
    before.pop("partial/cache.index", None)
    rows = http_site.site.snapshot()

    result = http_site.cache()

    assert result.code == IMAGE_FAILED_EXIT
    assert one_warning(result, "img-b") == REFUSED
    assert "1 failed" in result.out
    for text in (str(secret), "shadow", str(len(SECRET)), str(len(SECRET) + 1)):
        assert text not in result.err + result.out, "nothing about the local path is told"
    _assert_nothing_happened(http_site, before, result.err)
    assert http_site.site.snapshot() == rows, "the database is unchanged"
    if variant == "same-content":
        assert secret.read_bytes() == SECRET
    assert not any(
        "VMCATCHER_EVENT_DC_IDENTIFIER" in e and e["VMCATCHER_EVENT_DC_IDENTIFIER"] == "img-b"
        for e in http_site.events()
    ), "the cloud hears nothing of it"


def test_a_redirect_to_a_file_is_refused_without_naming_it(
    http_site: CacheSite, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.img"
    secret.write_bytes(SECRET)
    http_site.server.put("/moved/img-b", status=302, location=secret.as_uri())
    _point_img_b_at(http_site, http_site.server.url("/moved/img-b"), SECRET)
    before = tree(http_site.cache_dir)
    before.pop("partial/cache.index", None)
    rows = http_site.site.snapshot()

    result = http_site.cache("--retries", "0")

    assert result.code == IMAGE_FAILED_EXIT
    line = one_warning(result, "img-b")
    assert line == (
        f"ERROR: img-b: cannot retrieve {http_site.server.url('/moved/img-b')}: refusing "
        "redirect to a file: URL (only http and https are followed)"
    )
    assert str(secret) not in result.err
    assert "secret.img" not in result.err
    _assert_nothing_happened(http_site, before, result.err)
    assert http_site.site.snapshot() == rows


def test_other_schemes_are_refused_without_echoing_the_uri(http_site: CacheSite) -> None:
    _point_img_b_at(http_site, "ftp://user:pw@files.example/etc/img-b", SECRET)
    result = http_site.cache()
    assert result.code == IMAGE_FAILED_EXIT
    line = one_warning(result, "img-b")
    assert line == "ERROR: img-b: unsupported image URI scheme 'ftp' (http, https and oci are)"


def test_allow_file_images_copies_them_from_an_http_list(
    http_site: CacheSite, tmp_path: Path
) -> None:
    local = tmp_path / "local.img"
    local.write_bytes(SECRET)
    _point_img_b_at(http_site, local.as_uri(), SECRET)
    result = http_site.cache("--allow-file-images")
    assert result.code == 0, result.err
    assert (http_site.cache_dir / "img-b").read_bytes() == SECRET


def test_a_list_read_from_a_file_may_name_file_images(
    site: Site, server: HttpServer, test_pki: TestPki, tmp_path: Path
) -> None:
    content = image_bytes("img-local", 6000)
    image_file = tmp_path / "images" / "local.img"
    image_file.parent.mkdir()
    image_file.write_bytes(content)
    list_path = tmp_path / "lists" / "image.list"
    list_path.parent.mkdir()
    image = make_image("img-local", content=content, uri=image_file.as_uri())
    imagelist = make_list(test_pki.good, images=(image,), uri=list_path.as_uri())
    list_path.write_bytes(sign(imagelist, test_pki.good))
    site.register("endorser-1", test_pki.good)
    assert site.subscribe("-s", list_path.as_uri()).code == 0
    assert site.subscribe("-U").code == 0
    assert site.image("-a", "-u", "img-local").code == 0
    cache_site = CacheSite(World(site, server, test_pki.good), tmp_path)

    result = cache_site.cache()

    assert result.code == 0, result.err
    assert result.out.startswith("1 downloaded")
    assert (cache_site.cache_dir / "img-local").read_bytes() == content
    index = cache_site.index()["img-local"]
    assert index["sl:checksum:sha512"] == hashlib.sha512(content).hexdigest()
