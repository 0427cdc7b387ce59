"""End to end with real processes on 127.0.0.1 (issue 12, "What it must show").

The marketplace runs under uvicorn (https, the test PKI's host certificate); the endorser's
images are served by tests/httpserver.py. An endorser imports a vmcaster-signed list through
vmcaster's ``marketplace`` transport and publishes it after the integrity check; a VO manager
publishes a token-gated VO list; a site subscribes with vmcatcher_subscribe -s / -U,
vmcatcher_image -a and vmcatcher_cache, receives a new version as an update, and expires the
images once the VO drops the appliance. ``openssl smime -verify -crl_check_all`` accepts every
list the market published.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelist.market.listbuild import vo_image_id
from imagelist.smime import read_signed
from tests.httpserver import HttpServer
from tests.market.e2e_support import (
    Endorser,
    MarketProcess,
    SiteProcess,
    make_endorser,
    make_site,
    running_market,
)
from tests.market.pubsupport import SERVICE_DN
from tests.pki import TestPki, openssl_smime_verify

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SLUG = "alma9"
VO = "ops.example.org"
IMAGES = {
    "img-a": "0d2c5f0e-9a54-4f4a-8b3e-4d2b7f6c1a01",
    "img-b": "0d2c5f0e-9a54-4f4a-8b3e-4d2b7f6c1a02",
}


@pytest.fixture
def images() -> Iterator[HttpServer]:
    with HttpServer() as server:
        yield server


@pytest.fixture
def market(tmp_path: Path, test_pki: TestPki) -> Iterator[MarketProcess]:
    with running_market(tmp_path, test_pki) as running:
        yield running


def _image_keys(server: HttpServer, name: str, version: str, data: bytes) -> dict[str, str]:
    path = f"/images/{name}-{version}.img"
    server.put(path, data)
    return {
        "dc:title": name,
        "dc:description": f"{name} of AlmaLinux 9",
        "sl:arch": "x86_64",
        "sl:os": "Linux",
        "sl:osname": "AlmaLinux",
        "sl:osversion": "9",
        "sl:comments": "built by Ann",
        "hv:hypervisor": "KVM",
        "hv:format": "raw",
        "hv:uri": server.url(path),
        "hv:size": str(len(data)),
        "sl:checksum:sha512": hashlib.sha512(data).hexdigest(),
        "hv:version": version,
    }


def _verify_all(openssl: str, test_pki: TestPki, lists: list[bytes]) -> None:
    for signed in lists:
        result = openssl_smime_verify(openssl, signed, test_pki.trust_dir, crl_check_all=True)
        assert result.returncode == 0, result.stderr


def _publish_version(market: MarketProcess, upload_out: str) -> int:
    """The version vmcaster's line names: check it, then publish it (Verify & Publish)."""
    url = upload_out.strip().rsplit(": ", 1)[-1]
    version_id = int(url.rsplit("/", 1)[-1])
    started = market.call(
        "POST", f"/api/v1/versions/{version_id}/integrity", "ann", json={"publish": True}
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = market.call("GET", f"/api/v1/versions/{version_id}", "ann").json()["state"]
        if state in ("published", "failed"):
            break
        time.sleep(0.3)
    checked = market.call("GET", f"/api/v1/versions/{version_id}/integrity", "ann").json()
    assert state == "published", checked
    return version_id


def _publish_vo(market: MarketProcess) -> None:
    response = market.call("POST", f"/api/v1/vos/{VO}/list/draft/publish", "victor")
    assert response.status_code == 200, response.text


def _vo_list(market: MarketProcess) -> bytes:
    response = market.call("GET", f"/store/vo/{VO}/image.list", "site")
    assert response.status_code == 200, response.text
    return response.content


def _cached(site: SiteProcess) -> dict[str, bytes]:
    """The images in the cache directory (not its index and lock)."""
    return {
        p.name: p.read_bytes()
        for p in site.cache.iterdir()
        if p.is_file() and _UUID.fullmatch(p.name)
    }


def test_endorser_to_vo_list_to_site_cache(
    tmp_path: Path,
    test_pki: TestPki,
    openssl: str,
    images: HttpServer,
    market: MarketProcess,
) -> None:
    published: list[bytes] = []
    # -- the market's people: an endorser (with the certificate vmcaster signs with), a VO
    #    manager, a site with a read token for the gated VO list.
    good = test_pki.good
    market.person("ann", dn=good.subject_oneline, ca=good.issuer_oneline)
    market.person("victor")
    market.cli("vo", "create", VO, "--gated")
    market.cli("role", "grant", VO, str(market.people["victor"]), "manager")
    market.person("site", f"vo:{VO}:read")
    created = market.call(
        "POST", "/api/v1/appliances", "ann", json={"slug": SLUG, "title": "AlmaLinux 9"}
    )
    assert created.status_code == 201, created.text

    # -- the endorser signs a list with vmcaster and the marketplace transport imports it.
    endorser: Endorser = make_endorser(
        tmp_path / "ann", test_pki, market, SLUG, market.tokens["ann"]
    )
    first = {name: os.urandom(96 * 1024 + index) for index, name in enumerate(IMAGES)}
    for name, identifier in IMAGES.items():
        endorser.set_image(identifier, _image_keys(images, name, "1.0", first[name]))
    upload = endorser.upload()
    assert upload.rc == 0, upload.err
    assert f"imported by the marketplace as version 0.0.1 of appliance {SLUG}" in upload.out
    assert market.tokens["ann"] not in upload.out + upload.err
    _publish_version(market, upload.out)

    va_list = market.call("GET", f"/store/vappliance/{SLUG}/image.list").content
    endorsed = market.call("GET", f"/store/vappliance/{SLUG}/endorsed/image.list").content
    assert read_signed(endorsed).signer.subject == good.cert.subject  # the endorser's own bytes
    published += [va_list, endorsed]

    # -- the VO manager endorses the version and publishes the VO list (token-gated).
    added = market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "victor", json={"appliance": SLUG}
    )
    assert added.status_code == 201, added.text
    _publish_vo(market)
    assert market.call("GET", f"/store/vo/{VO}/image.list").status_code == 401
    vo_list = _vo_list(market)
    published.append(vo_list)
    list_uuid = read_signed(vo_list).payload.split(b'"dc:identifier": "')[1].split(b'"')[0].decode()
    site_ids = {name: vo_image_id(list_uuid, identifier) for name, identifier in IMAGES.items()}

    # -- the site: endorser = the market's service certificate; subscribe with the token.
    site = make_site(tmp_path / "site", test_pki)
    site.ok(
        "vmcatcher_endorser", "--create", "--endorser_uuid=market",
        f"--subject={SERVICE_DN}", f"--issuer={test_pki.intermediate.subject_oneline}",
    )  # fmt: skip
    url = f"https://{market.tokens['site']}:x-oauth-basic@127.0.0.1:{market.port}/store/vo/{VO}/image.list"
    subscribed = site.run("vmcatcher_subscribe", "-s", url)
    assert subscribed.rc == 0, subscribed.err
    assert market.tokens["site"] not in subscribed.out + subscribed.err
    site.ok("vmcatcher_subscribe", "-U")
    listed = site.ok("vmcatcher_image", "-l")
    assert {line.split("\t")[0] for line in listed.splitlines()} == set(site_ids.values())
    for identifier in site_ids.values():
        site.ok("vmcatcher_image", "-a", "-u", identifier)
    site.ok("vmcatcher_cache")
    assert _cached(site) == {site_ids[name]: first[name] for name in IMAGES}

    # -- a new version: img-a changes; the VO updates its entry; the site gets an update.
    second_a = os.urandom(80 * 1024)
    endorser.set_image(IMAGES["img-a"], _image_keys(images, "img-a", "2.0", second_a))
    upload = endorser.upload()
    assert upload.rc == 0, upload.err
    assert "as version 0.0.2 of appliance" in upload.out
    _publish_version(market, upload.out)
    published.append(market.call("GET", f"/store/vappliance/{SLUG}/image.list").content)
    updated = market.call(
        "POST", f"/api/v1/vos/{VO}/list/draft/entries", "victor", json={"appliance": SLUG}
    )
    assert updated.status_code == 201, updated.text
    _publish_vo(market)
    published.append(_vo_list(market))
    site.ok("vmcatcher_subscribe", "-U")
    site.ok("vmcatcher_cache")
    assert _cached(site) == {site_ids["img-a"]: second_a, site_ids["img-b"]: first["img-b"]}

    # -- the VO drops the appliance: the site expires its images.
    dropped = market.call("DELETE", f"/api/v1/vos/{VO}/list/draft/entries/{SLUG}", "victor")
    assert dropped.status_code in (200, 204), dropped.text
    _publish_vo(market)
    published.append(_vo_list(market))
    site.ok("vmcatcher_subscribe", "-U")
    site.ok("vmcatcher_cache")
    assert _cached(site) == {}
    expired = {p.name.split(".")[0] for p in (site.cache / "expired").iterdir()}
    assert set(site_ids.values()) <= expired

    # -- every list the market published verifies with openssl, CRLs checked.
    _verify_all(openssl, test_pki, published)
