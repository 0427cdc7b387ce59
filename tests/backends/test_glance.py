"""The Glance backend against a real Glance (PyPI glance under gunicorn, SQLite, file store)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import openstack
import pytest

from imagelist.backends.base import spec_from_variables
from imagelist.backends.convert import Converter, Prepared
from imagelist.backends.glance import GlanceBackend, GlanceConfig, connect
from imagelist.backends.source import VerifiedFile
from imagelist.cli import imagelist_glance
from imagelist.errors import BackendVerificationError
from tests.backends.glance_server import GlanceServer
from tests.backends.support import LIST_ID, Cache, available, expire, process

pytestmark = pytest.mark.peer


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "glance.toml"
    path.write_text(
        'cloud = "imagelist-test"\nproject_id = "ops"\n'
        f'conversion_dir = "{tmp_path / "conversions"}"\n'
    )
    return path


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    config: Path,
    *args: str,
) -> tuple[int, str, str]:
    """Run ``imagelist-glance`` as vmcatcher_cache would: the event in the environment."""
    with monkeypatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("VMCATCHER_"):
                patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        code = imagelist_glance.main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def images(identifier: str, cloud: str = "imagelist-test", key: str = "") -> list[Any]:
    """Every image (hidden ones too) whose property ``key`` is ``identifier``.

    Filtered here: openstacksdk's ``images()`` drops property filters it does not know.
    """
    key = key or "vmcatcher_event_dc_identifier"
    connection = openstack.connect(cloud=cloud)
    found = {}
    for hidden in (False, True):
        for image in connection.image.images(is_hidden=hidden):
            if (image.properties or {}).get(key) == identifier:
                found[image.id] = image
    return list(found.values())


def test_available_gives_an_active_verified_image_with_egi_properties(
    glance: GlanceServer,
    cache: Cache,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = new_id()
    digest = cache.disk(identifier)
    code, out, err = run(monkeypatch, capsys, available(cache, identifier, digest), config_file)
    assert code == 0, err
    (image,) = images(identifier)
    assert image.status == "active"
    assert image.visibility == "private"
    assert "imagelist" in image.tags
    assert image.hash_algo == "sha512"
    assert image.hash_value == digest
    assert image.disk_format == "qcow2"
    props = image.properties
    assert props["vmcatcher_event_dc_identifier"] == identifier
    assert props["vmcatcher_event_sl_checksum_sha512"] == digest
    assert props["vmcatcher_event_type"] == "AvailablePostfix"
    assert props["vmcatcher_event_il_dc_identifier"] == LIST_ID
    assert props["image_list"] == LIST_ID
    attributes = json.loads(props["APPLIANCE_ATTRIBUTES"])
    assert attributes["dc:identifier"] == identifier
    assert attributes["sl:checksum:sha512"] == digest
    assert image.architecture == "x86_64"
    assert image.name == f"Appliance {identifier}"
    assert f"{identifier} is image {image.id} (active)" in out


def test_same_event_twice_gives_one_image(
    glance: GlanceServer,
    cache: Cache,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = new_id()
    env = available(cache, identifier, cache.disk(identifier))
    assert run(monkeypatch, capsys, env, config_file)[0] == 0
    code, _, err = run(monkeypatch, capsys, env, config_file)
    assert code == 0, err
    assert len(images(identifier)) == 1


def test_update_publishes_the_new_image_then_retires_the_old(
    glance: GlanceServer,
    cache: Cache,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = new_id()
    old = cache.disk(identifier, seed=1)
    assert run(monkeypatch, capsys, available(cache, identifier, old), config_file)[0] == 0
    (first,) = images(identifier)
    # vmcatcher_cache sends an update as Expire(old), then Available(new), then ProcessPostfix.
    assert run(monkeypatch, capsys, expire(identifier, old), config_file)[0] == 0
    (marked,) = images(identifier)
    assert marked.status == "active"  # not retired before its successor is up
    new = cache.disk(identifier, seed=2)
    env = available(cache, identifier, new, VMCATCHER_EVENT_HV_VERSION="2.0")
    assert run(monkeypatch, capsys, env, config_file)[0] == 0
    assert run(monkeypatch, capsys, process(), config_file)[0] == 0
    by_id = {image.id: image for image in images(identifier)}
    assert len(by_id) == 2
    retired = by_id.pop(first.id)
    (current,) = by_id.values()
    assert current.status == "active"
    assert current.hash_value == new
    assert retired.status == "deactivated"
    assert retired.visibility == "private"
    assert retired.properties["imagelist_retired"] >= current.created_at


def test_expire_retires_at_the_end_of_the_run(
    glance: GlanceServer,
    cache: Cache,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = new_id()
    digest = cache.disk(identifier)
    assert run(monkeypatch, capsys, available(cache, identifier, digest), config_file)[0] == 0
    code, out, _ = run(monkeypatch, capsys, expire(identifier, digest), config_file)
    assert code == 0
    assert "marked for retirement" in out
    assert run(monkeypatch, capsys, process("ProcessPostfix"), config_file)[0] == 0
    (image,) = images(identifier)
    assert image.status == "deactivated"
    assert image.properties["imagelist_retired"]


@pytest.mark.parametrize("mode", ["hide", "delete-when-unused"])
def test_retire_modes(
    mode: str,
    glance: GlanceServer,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "glance.toml"
    config.write_text(
        'cloud = "imagelist-test"\nproject_id = "ops"\n'
        f'retire_mode = "{mode}"\ndefer_retire = false\n'
        f'conversion_dir = "{tmp_path}"\n'
    )
    identifier = new_id()
    digest = cache.disk(identifier)
    assert run(monkeypatch, capsys, available(cache, identifier, digest), config)[0] == 0
    code, out, _ = run(monkeypatch, capsys, expire(identifier, digest), config)
    assert code == 0
    assert ": retired:" in out
    found = images(identifier)
    if mode == "hide":
        (image,) = found
        assert image.is_hidden is True
        assert image.status == "active"
    else:
        assert found == []


def test_glance_down_fails_and_the_resent_event_is_applied(
    glance: GlanceServer,
    cache: Cache,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = new_id()
    env = available(cache, identifier, cache.disk(identifier))
    glance.stop()
    try:
        code, _out, err = run(monkeypatch, capsys, env, config_file)
    finally:
        glance.start()
    assert code == 51
    assert err.startswith("imagelist-glance: error: cannot reach Glance")
    assert len(err.strip().splitlines()) == 1
    assert images(identifier) == []
    assert run(monkeypatch, capsys, env, config_file)[0] == 0  # the cache sends it again
    (image,) = images(identifier)
    assert image.status == "active"


def test_a_cached_file_with_other_content_is_refused_before_upload(
    glance: GlanceServer,
    cache: Cache,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = new_id()
    cache.disk(identifier)
    env = available(cache, identifier, "ab" * 64)  # the list says other content
    code, _, err = run(monkeypatch, capsys, env, config_file)
    assert code == 55
    assert "does not have the list's SHA-512" in err
    assert images(identifier) == []


def test_glance_hash_differing_from_what_was_sent_deletes_the_upload(
    glance: GlanceServer, cache: Cache, tmp_path: Path
) -> None:
    class WrongDigest(Converter):
        """Reports a digest other than the file's, as a broken conversion would."""

        def prepare(self, source: VerifiedFile, *, ova: bool, accepted: Any) -> Prepared:
            return Prepared(source.path, "qcow2", "cd" * 64, True)

    identifier = new_id()
    digest = cache.disk(identifier)
    config = GlanceConfig(cloud="imagelist-test", project_id="ops")
    backend = GlanceBackend(
        config, connect("imagelist-test"), converter=WrongDigest(tmp_path / "conv")
    )
    spec = spec_from_variables(available(cache, identifier, digest))
    with pytest.raises(BackendVerificationError, match="os_hash_value") as refused:
        backend.publish(spec)
    assert refused.value.exit_code == 52
    assert images(identifier) == []


def _peer_upload(cache: Cache, identifier: str, digest: str, peer: str) -> Any:
    """Upload ``identifier`` as atrope 2.x or cloudkeeper-os 0.9.9 does."""
    from openstack.image.v2.image import Image

    connection = openstack.connect(cloud="imagelist-test")
    entry = {"dc:identifier": identifier, "sl:checksum:sha512": digest}
    if peer == "atrope":
        attrs = {
            "tags": ["atrope"],
            "appdb_id": identifier,
            "image_hash": digest,
            "image_list": LIST_ID,
            "APPLIANCE_ATTRIBUTES": json.dumps(entry),
        }
    else:
        attrs = {
            "APPLIANCE_ID": identifier,
            "APPLIANCE_IMAGE_LIST_ID": LIST_ID,
            "APPLIANCE_ATTRIBUTES": json.dumps(entry),
        }
    image = Image.new(
        name=f"{peer} image", disk_format="qcow2", container_format="bare", **attrs
    ).create(connection.image)
    with (cache.path / identifier).open("rb") as data:
        image.upload(connection.image, data=data)
    return image


@pytest.mark.parametrize("peer", ["atrope", "cloudkeeper-os"])
def test_a_peer_made_image_is_adopted_not_uploaded_again(
    peer: str,
    glance: GlanceServer,
    cache: Cache,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = new_id()
    digest = cache.disk(identifier)
    made = _peer_upload(cache, identifier, digest, peer)
    config_file.write_text(config_file.read_text() + "adopt = true\n")  # adoption is opt-in
    code, out, err = run(monkeypatch, capsys, available(cache, identifier, digest), config_file)
    assert code == 0, err
    assert f"is image {made.id}" in out
    key = "appdb_id" if peer == "atrope" else "APPLIANCE_ID"
    (image,) = images(identifier, key=key)
    assert image.id == made.id
    assert "imagelist" in image.tags
    assert image.properties["imagelist_adopted_from"] == peer
    assert image.properties["vmcatcher_event_dc_identifier"] == identifier
    config = GlanceConfig(cloud="imagelist-test", project_id="ops", adopt=True)
    listed = GlanceBackend(config, connect("imagelist-test"))
    assert any(m.backend_id == made.id for m in listed.list_images())


def test_vo_images_are_uploaded_once_and_shared_with_the_vo_projects(
    glance: GlanceServer,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "glance.toml"
    config.write_text(
        'cloud = "imagelist-test"\nproject_id = "ops"\n'
        f'conversion_dir = "{tmp_path}"\n'
        "[vo_projects]\n"
        '"vo.example.org" = ["vo1", "vo2"]\n'
        "[member_clouds]\n"
        'vo1 = "vo1-member"\n'
    )
    identifier = new_id()
    env = available(cache, identifier, cache.disk(identifier), VMCATCHER_EVENT_VO="vo.example.org")
    assert run(monkeypatch, capsys, env, config)[0] == 0
    (image,) = images(identifier)
    assert image.visibility == "shared"
    connection = openstack.connect(cloud="imagelist-test")
    members = {m.member_id: m.status for m in connection.image.members(image)}
    assert members == {"vo1": "accepted", "vo2": "accepted"}
    assert [i.id for i in images(identifier, cloud="vo1-member")] == [image.id]
    assert run(monkeypatch, capsys, env, config)[0] == 0  # again: members already there
    assert len(images(identifier)) == 1


def test_conversion_to_the_accepted_format_is_verified(
    glance: GlanceServer,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "glance.toml"
    config.write_text(
        'cloud = "imagelist-test"\nproject_id = "ops"\n'
        f'disk_formats = ["raw"]\nconversion_dir = "{tmp_path}/c"\n'
    )
    identifier = new_id()
    digest = cache.disk(identifier, "qcow2")
    assert run(monkeypatch, capsys, available(cache, identifier, digest), config)[0] == 0
    (image,) = images(identifier)
    assert image.disk_format == "raw"
    assert image.properties["imagelist_sha512"] == digest
    assert image.hash_value == image.properties["imagelist_uploaded_sha512"] != digest
    assert (tmp_path / "c" / f"{digest}.raw").is_file()


def test_an_ova_is_uploaded_as_its_first_disk(
    glance: GlanceServer,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "glance.toml"
    config.write_text(
        'cloud = "imagelist-test"\nproject_id = "ops"\n'
        f'disk_formats = ["qcow2"]\nconversion_dir = "{tmp_path}"\n'
    )
    identifier = new_id()
    digest = cache.ova(identifier)
    env = available(cache, identifier, digest, VMCATCHER_EVENT_HV_FORMAT="OVA")
    code, _, err = run(monkeypatch, capsys, env, config)
    assert code == 0, err
    (image,) = images(identifier)
    assert image.disk_format == "qcow2"
    assert image.status == "active"


def test_dry_run_prints_the_calls_and_changes_nothing(
    glance: GlanceServer,
    cache: Cache,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = new_id()
    digest = cache.disk(identifier)
    env = available(cache, identifier, digest)
    code, out, _ = run(monkeypatch, capsys, env, config_file, "--dry-run")
    assert code == 0
    assert f"would: glance: create image 'Appliance {identifier}'" in out
    assert images(identifier) == []
    assert run(monkeypatch, capsys, env, config_file)[0] == 0
    code, out, _ = run(monkeypatch, capsys, expire(identifier, digest), config_file, "-n")
    assert "would: glance: expired: retire at run end: PATCH image" in out
    code, out, _ = run(monkeypatch, capsys, {}, config_file, "--list")
    assert code == 0
    assert identifier in out
