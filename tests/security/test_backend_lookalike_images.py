"""Attack: another tenant plants images that look like ours (issue 17.1).

Anyone who can create an image can give it our tag or attribute, the list's identifier and its
SHA-512. In the real Glance an unprivileged project (``evil``) does it; in the oned fake other
users do it (``alice`` in the site user's group, ``mallory`` in another). Nothing of theirs may
be adopted, shared, renamed, retired or chowned, no owner or permission of theirs is copied,
and our own, verified image is published.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import openstack
import pytest
from openstack.image.v2.image import Image

from imagelist.backends.opennebula import template_xml
from tests.backends.glance_server import GlanceServer
from tests.backends.support import LIST_ID, Cache, available, expire, process
from tests.fakes.oned import FakeOned
from tests.security.backend_support import (
    glance_images,
    glance_state,
    oned_snapshot,
    run_glance,
    run_opennebula,
    tree,
)

VO = "vo.example.org"


def plant_in_glance(identifier: str, digest: str, data: bytes, **attrs: Any) -> Any:
    """The intruder's image: ``attrs`` as given, ``data`` uploaded."""
    connection = openstack.connect(cloud="intruder")
    image = Image.new(
        name="totally the real image", disk_format="qcow2", container_format="bare", **attrs
    ).create(connection.image)
    image.upload(connection.image, data=data)
    return connection.image.get_image(image.id)


@pytest.mark.peer
def test_glance_lookalikes_of_another_project_are_left_alone(
    glance: GlanceServer,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "glance.toml"
    config.write_text(
        f'cloud = "imagelist-test"\nproject_id = "ops"\nconversion_dir = "{tmp_path}/conv"\n'
        "adopt = true\n"  # even with adoption on
        f'[vo_projects]\n"{VO}" = ["vo1"]\n[member_clouds]\nvo1 = "vo1-member"\n'
    )
    identifier = str(uuid.uuid4())
    digest = cache.disk(identifier)
    real = (cache.path / identifier).read_bytes()
    ours_lookalike = plant_in_glance(
        identifier,
        digest,
        b"\x7fELF not the listed image",
        tags=["imagelist"],
        vmcatcher_event_dc_identifier=identifier,
        vmcatcher_event_sl_checksum_sha512=digest,
        imagelist_sha512=digest,
        imagelist_managed_by="imagelist",
        image_list=LIST_ID,
    )
    # An atrope look-alike with the listed bytes: even Glance's own hash matches the list.
    atrope_lookalike = plant_in_glance(
        identifier,
        digest,
        real,
        tags=["atrope"],
        appdb_id=identifier,
        image_hash=digest,
        APPLIANCE_ATTRIBUTES=json.dumps({"sl:checksum:sha512": digest}),
    )
    cloudkeeper_lookalike = plant_in_glance(
        identifier,
        digest,
        real,
        APPLIANCE_ID=identifier,
        APPLIANCE_ATTRIBUTES=json.dumps({"sl:checksum:sha512": digest}),
    )
    planted = [str(i.id) for i in (ours_lookalike, atrope_lookalike, cloudkeeper_lookalike)]
    assert set(planted) <= {str(i.id) for i in glance_images("imagelist-test")}  # we see them
    before = {image_id: glance_state(image_id) for image_id in planted}
    cache_before = tree(cache.path)

    caplog.set_level(logging.WARNING)
    env = available(cache, identifier, digest, VMCATCHER_EVENT_VO=VO)
    code, out, err = run_glance(monkeypatch, capsys, env, config)
    assert code == 0, err
    assert {image_id: glance_state(image_id) for image_id in planted} == before
    assert all(image_id in caplog.text for image_id in planted)  # each look-alike is reported
    (ours,) = [
        i
        for i in glance_images("imagelist-test")
        if i.owner == "ops"
        and (i.properties or {}).get("vmcatcher_event_dc_identifier") == identifier
    ]
    assert f"is image {ours.id} (active)" in out
    assert ours.hash_value == digest
    assert "imagelist" in ours.tags
    members = openstack.connect(cloud="imagelist-test").image.members(ours)
    assert [(m.member_id, m.status) for m in members] == [("vo1", "accepted")]

    for event in (expire(identifier, digest), process()):
        code, _, err = run_glance(monkeypatch, capsys, event, config)
        assert code == 0, err
    assert {image_id: glance_state(image_id) for image_id in planted} == before
    assert openstack.connect(cloud="imagelist-test").image.get_image(ours.id).status == (
        "deactivated"
    )
    assert tree(cache.path) == cache_before


def plant_in_oned(oned: FakeOned, user: str, path: Path, name: str, **template: str) -> int:
    """``user`` allocates an image (permissions 660: its group may use and manage it)."""
    owner = oned.users[user]
    image_id = oned.image_allocate(
        owner, template_xml({"NAME": name, "PATH": str(path), **template}), 1
    )
    oned.image_chmod(owner, image_id, 1, 1, 0, 1, 1, 0, 0, 0, 0)
    oned.image_info(owner, image_id)
    oned.image_info(owner, image_id)  # the datastore copy is done: READY
    return image_id


def test_opennebula_lookalike_of_a_group_member_is_not_adopted_or_renamed(
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = str(uuid.uuid4())
    digest = cache.disk(identifier)
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"not the listed image")
    planted = plant_in_oned(
        oned,
        "alice",  # same group as the site user, so the site user sees and may manage it
        junk,
        "harmless",
        VMCATCHER_EVENT_DC_IDENTIFIER=identifier,
        VMCATCHER_EVENT_SL_CHECKSUM_SHA512=digest,
        IMAGELIST_SHA512=digest,
        IMAGELIST_MANAGED_BY="imagelist",
    )
    site = oned.users["site"]
    assert f"<ID>{planted}</ID>" in oned.imagepool_info(site, -2, -1, -1)  # visible to us
    before = oned_snapshot(oned)
    cache_before = tree(cache.path)

    env = available(cache, identifier, digest)
    code, out, err = run_opennebula(
        oned, tmp_path, monkeypatch, capsys, env, session="site:sitepass", config="adopt = true\n"
    )
    assert code == 0, err
    assert oned.images[planted] == before[planted]
    (ours,) = [i for i in oned.images.values() if i.id != planted]
    assert (ours.uid, ours.gid, ours.name) == (5, 100, identifier)
    assert ours.template["IMAGELIST_SHA512"] == digest
    assert ours.template["PATH"] == str(cache.path / identifier)
    assert f"is image {ours.id} (active)" in out

    for event in (expire(identifier, digest), process()):
        code, _, err = run_opennebula(
            oned, tmp_path, monkeypatch, capsys, event, session="site:sitepass"
        )
        assert code == 0, err
    assert oned.images[planted] == before[planted]
    assert ours.name.startswith(f"{identifier}_EXPIRED_")
    assert tree(cache.path) == cache_before


@pytest.mark.parametrize("managed", [True, False], ids=["imagelist-marker", "cesga-handler"])
def test_opennebula_lookalike_older_version_gives_no_owner_and_is_not_retired(
    managed: bool,
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = str(uuid.uuid4())
    old_digest = "0f" * 64
    digest = cache.disk(identifier)
    marker = (
        {"IMAGELIST_MANAGED_BY": "imagelist", "IMAGELIST_SHA512": old_digest} if managed else {}
    )
    planted = plant_in_oned(
        oned,
        "mallory",
        cache.path / identifier,
        identifier,  # holds the identifier as its name, as our previous version would
        VMCATCHER_EVENT_DC_IDENTIFIER=identifier,
        VMCATCHER_EVENT_SL_CHECKSUM_SHA512=old_digest,
        **marker,
    )
    before = oned_snapshot(oned)
    cache_before = tree(cache.path)
    # oneadmin publishes for the site user; it sees every image, mallory's included.
    config = "owner_uid = 5\nowner_gid = 100\nadopt = true\n"
    env = available(cache, identifier, digest)
    code, _, err = run_opennebula(oned, tmp_path, monkeypatch, capsys, env, config=config)
    assert code == 0, err
    assert oned.images[planted] == before[planted]
    (ours,) = [i for i in oned.images.values() if i.id != planted]
    assert (ours.uid, ours.gid) == (5, 100)  # never mallory's 9:101
    assert ours.permissions == [1, 1, 0, 0, 0, 0, 0, 0, 0]  # never mallory's 660
    assert not any(n == "one.image.chown" and a[1:] == (9, 101) for n, a in oned.calls)

    code, out, err = run_opennebula(
        oned, tmp_path, monkeypatch, capsys, expire(identifier, old_digest), config=config
    )
    assert code == 0, err
    assert "no image" in out
    assert oned.images[planted] == before[planted]
    assert tree(cache.path) == cache_before
