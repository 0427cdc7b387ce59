"""vmcatcher_image from the command line: the state bitmap, details, selections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.conftest import server, sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import LIST_ID, Site, World, build_world, make_image


@pytest.fixture
def world(sqlite_site: Site, server: HttpServer, test_pki: TestPki) -> World:  # noqa: F811
    return build_world(sqlite_site, server, test_pki.good)


def test_list_formats(world: World) -> None:
    assert world.site.image("-l").out == f"img-a\t3\t{LIST_ID}\nimg-b\t2\t{LIST_ID}\n"
    assert json.loads(world.site.image("-l", "-f", "json").out) == [
        {
            "image": "img-a",
            "state": 3,
            "subscription": LIST_ID,
            "title": "Image img-a",
            "version": "1",
        },
        {
            "image": "img-b",
            "state": 2,
            "subscription": LIST_ID,
            "title": "Image img-b",
            "version": "1",
        },
    ]


def test_long_listing_adds_version_and_title(world: World) -> None:
    """--long adds two columns; without it a 3-column reader still unpacks every line."""
    world.publish(
        world.make(version="1.1", images=(make_image("img-a", title="Alma\tLinux 9", version="2"),))
    )
    assert world.update().code == 0
    assert world.site.image("-l", "--long").out == (
        f"img-a\t3\t{LIST_ID}\t2\tAlma Linux 9\nimg-b\t0\t{LIST_ID}\t1\tImage img-b\n"
    )
    for line in world.site.image("-l").out.splitlines():
        image, state, subscription = line.split("\t")
        assert (image[:4], state in "0123", subscription) == ("img-", True, LIST_ID)
    listed = json.loads(world.site.image("-l", "-f", "json").out)
    assert listed[0]["title"] == "Alma\tLinux 9", "JSON keeps the title as the list has it"


def test_add_and_remove_by_id_and_sha512(world: World) -> None:
    site = world.site
    assert site.image("-r", "-u", "img-a").code == 0
    assert site.image("-a", "-s", make_image("img-b").sha512.upper()).code == 0
    assert site.image("-l").out == f"img-a\t2\t{LIST_ID}\nimg-b\t3\t{LIST_ID}\n"
    unknown = site.image("-a", "-u", "nope")
    assert (unknown.code, unknown.err) == (1, "vmcatcher_image: error: no image 'nope' is known\n")
    assert site.image("-a", "-s", "00" * 64).code == 1
    assert site.image("-a").code == 1
    assert site.image().code == 1


def test_info_lines_json_and_lists(world: World, test_pki: TestPki, tmp_path: Path) -> None:
    site = world.site
    lines = site.image("-i", "-u", "img-a").out.splitlines()
    image = make_image("img-a")
    assert lines[0] == f"imagelist.dc:identifier={LIST_ID}"
    assert "image.sl:arch=x86_64" in lines, "0.6 printed the hypervisor here (D22)"
    assert f"image.sl:checksum:sha512={image.sha512}" in lines
    assert lines[-4:] == [
        "imagedef.dc:identifier=img-a",
        "imagedef.cache=1",
        f"endorser:hv:subject={test_pki.good.subject_oneline}",
        f"endorser:hv:issuer={test_pki.good.issuer_oneline}",
    ]
    details = json.loads(site.image("-i", "-u", "img-a", "-f", "json").out)
    assert details["ImageInstance"]["arch"] == "x86_64"
    assert details["ImageDefinition"] == {"cache": 1, "identifier": "img-a"}
    served = world.server.resolve(world.path).body
    out = tmp_path / "list.smime"
    assert site.image("-i", "-u", "img-a", "-f", "smime", "-o", str(out)).code == 0
    assert out.read_bytes() == served
    message = site.image("-i", "-s", image.sha512, "-f", "message").out
    assert json.loads(message)["hv:imagelist"]["hv:version"] == "1.0"


def test_info_of_a_revoked_image(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.publish(world.make(version="1.1", images=world.images[:1]))
    assert world.update().code == 0
    info = world.site.image("-i", "-u", "img-b").out
    assert "image.dc:title" not in info
    assert info.endswith("imagedef.dc:identifier=img-b\nimagedef.cache=0\n")
    assert "not in its subscription's latest list" in caplog.text
    smime = world.site.image("-i", "-u", "img-b", "-f", "SMIME")
    assert (smime.code, smime.out) == (0, "")
    assert "in no current list" in smime.err
