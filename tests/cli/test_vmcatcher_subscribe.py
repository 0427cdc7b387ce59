"""vmcatcher_subscribe from the command line, including the paper's §3.2 walkthrough."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.httpserver import HttpServer
from tests.pki import IgtfDirectory, TestPki
from tests.subscriber.conftest import server, sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import LIST_ID, Site, World, build_world, make_image, make_list, sign

BIN = Path(sys.executable).parent
PAPER_DN = "/DC=es/DC=irisgrid/O=cesga/CN=alvarosimon"
PAPER_CA = "/DC=es/DC=irisgrid/CN=IRISGridCA"


def test_paper_section_3_2(tmp_path: Path, test_pki: TestPki) -> None:
    """The commands of the paper, run as they are written, in a fresh directory."""
    good = test_pki.good
    imagelist = make_list(
        good,
        uri=(tmp_path / "image.list").as_uri(),
        images=(make_image("a1b2c3d4-0001"), make_image("a1b2c3d4-0002")),
    )
    (tmp_path / "image.list").write_bytes(sign(imagelist, good))  # what wget fetched
    env = {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "VMCATCHER_DIR_CERT": str(test_pki.trust_dir),
        "HOME": str(tmp_path),
    }

    def sh(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    paper = sh(
        "vmcatcher_endorser --create --endorser_uuid='Alvaro Simon' \\\n"
        f"--subject='{PAPER_DN}' \\\n--issuer='{PAPER_CA}'"
    )
    assert paper.returncode == 0, paper.stderr
    ours = sh(
        "vmcatcher_endorser --create --endorser_uuid='Test Endorser' "
        f"--subject='{good.subject_oneline}' --issuer='{good.issuer_oneline}'"
    )
    assert ours.returncode == 0, ours.stderr
    subscribed = sh("vmcatcher_subscribe -s file:///`pwd`/image.list")
    assert subscribed.returncode == 0, subscribed.stderr
    assert sh("vmcatcher_subscribe -U").returncode == 0
    listed = sh("vmcatcher_image -l")
    assert listed.stdout == f"a1b2c3d4-0001\t2\t{LIST_ID}\na1b2c3d4-0002\t2\t{LIST_ID}\n"
    assert sh("vmcatcher_image -a -u a1b2c3d4-0001").returncode == 0
    assert sh("vmcatcher_image -l").stdout.splitlines()[0] == f"a1b2c3d4-0001\t3\t{LIST_ID}"
    endorsers = sh("vmcatcher_endorser -l").stdout
    assert f"'Alvaro Simon'\t'{PAPER_DN}'\t'{PAPER_CA}'\n" in endorsers
    assert (tmp_path / "vmcatcher.db").is_file(), "the default database, in the current directory"


@pytest.fixture
def world(sqlite_site: Site, server: HttpServer, test_pki: TestPki) -> World:  # noqa: F811
    return build_world(sqlite_site, server, test_pki.good)


def test_one_action_per_call(sqlite_site: Site) -> None:  # noqa: F811
    none = sqlite_site.subscribe()
    assert (none.code, none.err) == (1, "vmcatcher_subscribe: error: No actions selected\n")
    two = sqlite_site.subscribe("-l", "-U")
    assert two.code == 1
    assert "More than one action selected" in two.err


def test_settings_from_the_environment(
    world: World, test_pki: TestPki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from imagelist.cli import vmcatcher_subscribe

    monkeypatch.setenv("VMCATCHER_RDBMS", world.site.database)
    monkeypatch.setenv("VMCATCHER_OUTPUT_FORMAT", "JSON")
    monkeypatch.delenv("VMCATCHER_DIR_CERT", raising=False)
    monkeypatch.setenv("X509_CERT_DIR", str(test_pki.trust_dir))
    assert vmcatcher_subscribe.main(["-U"]) == 0
    monkeypatch.setenv("VMCATCHER_LOG_CONF", str(tmp_path / "missing.ini"))
    assert vmcatcher_subscribe.main(["-l"]) == 1


def test_listing_and_info_formats(world: World, tmp_path: Path) -> None:
    site = world.site
    listing = json.loads(site.subscribe("-l", "-f", "json").out)
    assert listing == [
        {"authorised": True, "identifier": LIST_ID, "uri": world.url, "uri.trustAnchor": "none"}
    ]
    assert site.subscribe("-l").out == f"{LIST_ID}\tTrue\tNone\t{world.url}\n", "0.6 text kept"
    info = json.loads(site.subscribe("-i", "-u", LIST_ID, "-f", "json").out)
    assert info["Subscription"]["uri.trustAnchor"] == "none", "as --uri-trustanchor-set spells it"
    assert info["ImageListInstance"]["version"] == "1.0"
    served = world.server.resolve(world.path).body
    assert site.subscribe("-i", "-f", "SMIME").out.encode() == served
    message = site.subscribe("-i", "-f", "message").out
    assert json.loads(message)["hv:imagelist"]["dc:identifier"] == LIST_ID
    images = site.subscribe("--image-list", "-u", LIST_ID).out
    assert images.endswith(f"img-a\t3\t{LIST_ID}\nimg-b\t2\t{LIST_ID}\n")
    images_json = json.loads(site.subscribe("--image-list", "-f", "json").out)
    assert [i["state"] for i in images_json["images"]] == [3, 2]
    out = tmp_path / "info.txt"
    assert site.subscribe("-i", "-r", world.url, "-o", str(out)).out == ""
    assert out.read_text().startswith(f"imagelist.dc:identifier={LIST_ID}\n")
    assert site.subscribe("-l", "-f", "yaml").code == 1
    assert site.subscribe("-i", "-u", "x", "-r", "y").code == 1
    assert site.subscribe("-i", "-u", "unknown").code == 1


def test_info_of_a_subscription_never_updated(
    sqlite_site: Site,  # noqa: F811
    server: HttpServer,  # noqa: F811
    test_pki: TestPki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sqlite_site.register("e", test_pki.good)
    server.put("/l", sign(make_list(test_pki.good, uri=server.url("/l")), test_pki.good))
    assert sqlite_site.subscribe("-s", server.url("/l")).code == 0
    assert "subscription.dc:date:updated=False" in sqlite_site.subscribe("-i").out
    info = json.loads(sqlite_site.subscribe("-i", "-f", "json").out)
    assert info["Subscription"]["updated"] is None, "null in JSON, not 0.6's false"
    assert "ImageListInstance" not in info
    smime = sqlite_site.subscribe("-i", "-f", "SMIME")
    assert (smime.code, smime.out) == (0, "")
    assert "no list imported yet" in smime.err


def test_update_output_and_dry_run(world: World) -> None:
    world.publish(world.make(version="1.1", images=(make_image("img-a", content=b"2"),)))
    before = world.site.snapshot()
    dry = world.update("--dry-run")
    assert dry.code == 0
    assert world.site.snapshot() == before
    assert dry.out.splitlines() == [
        "dry run: nothing was written and no event was sent",
        f"{LIST_ID}\t0\tupdated\tversion 1.0 -> 1.1: 1 changed, 1 revoked",
        "\tchanged\timg-a\tchanged image img-a",
        "\trevoked\timg-b\trevoked image img-b",
    ]
    as_json = json.loads(world.update("--dry-run", "-f", "json").out)
    assert as_json[0]["changes"] == [
        {"change": "changed", "image": "img-a"},
        {"change": "revoked", "image": "img-b"},
    ]
    assert as_json[0]["dry_run"] is True
    assert world.update("-q").out == ""


def test_subscription_settings(world: World) -> None:
    site = world.site
    assert site.subscribe("--uri-trustanchor-set", "igtf", "-u", LIST_ID).code == 0
    assert site.subscribe("-l").out.split("\t")[2] == "IGTF"
    assert (
        site.subscribe("--uri-username-set", "me", "--uri-password-set", "pw", "-u", LIST_ID).code
        == 0
    )
    assert site.query('select "userName", password from subscription') == [("me", "pw")]
    assert site.subscribe("--uri-username-clear", "-r", world.url).code == 0
    assert site.query('select "userName", password from subscription') == [(None, "pw")]
    assert site.subscribe("--uri-trustanchor-set", "none").code == 1, "needs a selection"
    assert site.subscribe("--max-list-size", "0", "-U").code == 1


def test_delete(world: World) -> None:
    site = world.site
    assert site.subscribe("-D").code == 1
    result = site.subscribe("-D", "-u", LIST_ID)
    assert result.code == 0
    assert f"deleted subscription {LIST_ID}" in result.err
    assert site.subscribe("-l").out == ""
    assert site.image("-l").out == ""
    assert site.query('select count(*) from "ImageInstance"') == [(0,)]


def test_trust_directory_problems(world: World, tmp_path: Path, test_pki: TestPki) -> None:
    site = world.site
    missing = site.run("vmcatcher_subscribe", "-U", "-c", str(tmp_path / "missing"))
    assert missing.code == 1
    assert "does not exist" in missing.err
    empty = tmp_path / "empty"
    empty.mkdir()
    no_ca = site.run("vmcatcher_subscribe", "-U", "-c", str(empty))
    assert no_ca.code == 12
    assert "no CA certificate" in no_ca.err


def test_a_handler_that_hangs_is_killed(world: World, tmp_path: Path) -> None:
    world.publish(world.make(version="1.1", images=(*world.images, make_image("img-new"))))
    result = world.update("-x", "sleep 60", "--handler-timeout", "0.5")
    assert result.code == 32
    assert result.out.endswith("1 refused; SubscriptionImageNew handler failed for img-new\n")


def test_unknown_event_handler_is_a_usage_error(world: World) -> None:
    result = world.update("--event-handler", "no-such-handler")
    assert result.code == 1
    assert "no event handler named 'no-such-handler'" in result.err


def test_verbose_errors_show_a_traceback(sqlite_site: Site, tmp_path: Path) -> None:  # noqa: F811
    result = sqlite_site.run("vmcatcher_subscribe", "-U", "-v", "-c", str(tmp_path / "x"))
    assert result.code == 1
    assert "Traceback" in result.err


def test_ca_directory_with_a_crl_problem_is_reported_per_subscription(
    world: World, test_pki: TestPki, tmp_path: Path
) -> None:
    directory = IgtfDirectory(tmp_path / "no-crl")
    directory.add_ca(test_pki.root, crl=test_pki.root_crl)
    directory.add_ca(test_pki.intermediate)
    world.publish(world.make(version="1.1"))
    strict = world.site.run("vmcatcher_subscribe", "-U", "-c", str(directory.path))
    assert strict.code == 11
    relaxed = world.site.run(
        "vmcatcher_subscribe", "-U", "-c", str(directory.path), "--crl", "if-present"
    )
    assert relaxed.code == 0


def test_no_python_none_for_a_missing_description(world: World) -> None:
    """A subscription without a description: the line ends after '=' (0.6 printed None)."""
    engine = sa.create_engine(world.site.database)
    with engine.begin() as connection:
        connection.execute(sa.text("update subscription set description = NULL"))
    engine.dispose()
    lines = world.site.subscribe("-i").out.splitlines()
    assert "subscription.dc:description=" in lines
    assert not any(line.endswith("=None") and "trustAnchor" not in line for line in lines)
    info = json.loads(world.site.subscribe("-i", "-f", "json").out)
    assert info["Subscription"]["description"] is None
