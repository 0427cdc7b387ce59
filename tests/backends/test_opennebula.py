"""The OpenNebula backend through pyone against the fake oned (tests/fakes/oned.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagelist.backends.base import ImageSpec
from imagelist.backends.convert import Converter, Prepared
from imagelist.backends.opennebula import (
    OneClient,
    OpenNebulaBackend,
    OpenNebulaConfig,
    read_session,
    template_xml,
)
from imagelist.cli import imagelist_opennebula
from imagelist.errors import BackendConfigError, BackendError, BackendUnavailableError
from tests.backends.support import Cache, available, expire, process
from tests.fakes.oned import ACTION, DISABLED, ERROR, READY, FakeOned, parse_template

ID = "c0ffee00-1111-4222-8333-444455556666"


def backend(oned: FakeOned, tmp_path: Path, **options: object) -> OpenNebulaBackend:
    config = OpenNebulaConfig(poll_interval=0.001, **options)  # type: ignore[arg-type]
    client = OneClient(oned.endpoint, "oneadmin:opennebula")
    return OpenNebulaBackend(config, client, converter=Converter(tmp_path / "conversions"))


def publish(one: OpenNebulaBackend, cache: Cache, seed: int = 0, **extra: str) -> str:
    from imagelist.backends.handler import handle

    digest = cache.disk(ID, seed=seed)
    handle(one, available(cache, ID, digest, **extra))
    return digest


def test_available_allocates_a_ready_image_with_escaped_attributes(
    oned: FakeOned, cache: Cache, tmp_path: Path
) -> None:
    title = 'Say "hi" <b>&amp; \\ back\nslash'
    digest = publish(backend(oned, tmp_path), cache, VMCATCHER_EVENT_DC_TITLE=title)
    (image,) = oned.images.values()
    assert image.name == ID
    assert image.state == READY
    assert image.datastore.name == "default"
    assert image.type == 0  # OS
    assert image.template["VMCATCHER_EVENT_DC_TITLE"] == title
    assert image.template["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == digest
    assert image.template["DESCRIPTION"] == f"The {ID} appliance"
    assert image.template["DRIVER"] == "qcow2"
    assert image.permissions == [1, 1, 0, 0, 0, 0, 0, 0, 0]  # oned's default umask


def test_same_event_twice_is_one_image(oned: FakeOned, cache: Cache, tmp_path: Path) -> None:
    one = backend(oned, tmp_path)
    publish(one, cache)
    publish(one, cache)
    assert len(oned.images) == 1


def test_update_allocates_first_gives_our_owner_copies_permissions_then_retires(
    oned: FakeOned, cache: Cache, tmp_path: Path
) -> None:
    from imagelist.backends.handler import handle

    one = backend(oned, tmp_path, owner_uid=5, owner_gid=100)  # oneadmin publishes for "site"
    old_digest = publish(one, cache, seed=1)
    old = oned.images[0]
    assert (old.uid, old.gid) == (5, 100)
    oned.images[0].permissions = [1, 1, 0, 1, 0, 0, 1, 0, 0]  # 644
    oned.images[0].state = DISABLED  # kept disabled for checking, as the paper describes
    handle(one, expire(ID, old_digest))
    assert old.name == ID  # deferred: nothing retired before the successor is up
    new_digest = publish(one, cache, seed=2)
    handle(one, process())
    new = next(i for i in oned.images.values() if i is not old)
    assert new.name == ID
    assert new.template["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == new_digest
    assert (new.uid, new.gid) == (5, 100)
    assert new.permissions == [1, 1, 0, 1, 0, 0, 1, 0, 0]
    assert new.state == DISABLED
    assert old.name.startswith(f"{ID}_EXPIRED_")
    assert old.permissions == [1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert old.state == DISABLED
    assert old.template["IMAGELIST_RETIRED"]
    allocate = [n for n, _ in oned.calls].index("one.image.allocate")
    rename_old = next(
        i for i, (n, a) in enumerate(oned.calls) if n == "one.image.rename" and a[0] == old.id
    )
    assert allocate < rename_old  # the new image first, then the old one retired


def test_expire_then_process_postfix_retires_and_a_used_image_is_kept_until_unused(
    oned: FakeOned, cache: Cache, tmp_path: Path
) -> None:
    from imagelist.backends.handler import handle

    one = backend(oned, tmp_path, delete_retired=True, delete_retired_after_days=0)
    digest = publish(one, cache)
    oned.use(0, vms=2)
    assert "marked for retirement: 0" in handle(one, expire(ID, digest))
    handle(one, process())
    image = oned.images[0]
    assert image.name.startswith(f"{ID}_EXPIRED_")
    assert image.state != READY
    handle(one, process("ProcessPrefix"))  # still used: not deleted
    assert 0 in oned.images
    oned.use(0, vms=0)
    handle(one, process())
    assert 0 not in oned.images


def test_expire_without_defer_retires_at_once_and_never_deletes_by_default(
    oned: FakeOned, cache: Cache, tmp_path: Path
) -> None:
    from imagelist.backends.handler import handle

    one = backend(oned, tmp_path)
    digest = publish(one, cache)
    assert "retired: 0" in handle(one, expire(ID, digest), defer_retire=False)
    assert oned.images[0].state == DISABLED
    handle(one, process())
    assert 0 in oned.images
    assert [m.state for m in one.list_images()] == ["retired"]


def test_allocation_error_deletes_the_image_and_fails(
    oned: FakeOned, cache: Cache, tmp_path: Path
) -> None:
    class Gone(Converter):
        """The file vanishes between conversion and oned's copy."""

        def prepare(self, *args: object, **kwargs: object) -> Prepared:
            return Prepared(cache.path / "vanished", "qcow2", "0" * 128, False)

    one = backend(oned, tmp_path)
    one.converter = Gone(tmp_path)
    digest = cache.disk(ID)
    spec = ImageSpec(ID, digest, cache.path / ID, {"VMCATCHER_EVENT_DC_IDENTIFIER": ID}, {})
    with pytest.raises(BackendError, match="Error copying image"):
        one.publish(spec)
    assert oned.images == {}


def test_a_datastore_by_name_must_be_an_image_datastore(
    oned: FakeOned, cache: Cache, tmp_path: Path
) -> None:
    publish(backend(oned, tmp_path, datastore="ceph"), cache)
    assert oned.images[0].datastore.id == 100
    with pytest.raises(BackendConfigError, match="not an image one"):
        publish(backend(oned, tmp_path, datastore="files"), cache, seed=3)
    with pytest.raises(BackendConfigError, match="no datastore"):
        publish(backend(oned, tmp_path, datastore="nope"), cache, seed=4)


def test_cloudkeeper_one_images_are_found_and_superseded(
    oned: FakeOned, cache: Cache, tmp_path: Path
) -> None:
    digest = cache.disk(ID, seed=9)
    user = oned.users["oneadmin"]
    oned.image_allocate(
        user,
        template_xml(
            {
                "NAME": f"{ID}@default",
                "PATH": str(cache.path / ID),
                "CLOUDKEEPER_APPLIANCE_ID": ID,
                "CLOUDKEEPER_IMAGE_CHECKSUM": digest,
            }
        ),
        1,
    )
    assert backend(oned, tmp_path).list_images() == []  # adoption is opt-in
    one = backend(oned, tmp_path, adopt=True)
    assert [m.managed_by for m in one.list_images()] == ["cloudkeeper-one"]
    publish(one, cache)  # other content (seed 0): the cloudkeeper image is retired
    states = sorted((m.managed_by, m.state) for m in one.list_images())
    assert states == [("cloudkeeper-one", "retired"), ("imagelist", "active")]


def test_failures_are_one_line_backend_errors(oned: FakeOned, cache: Cache, tmp_path: Path) -> None:
    one = backend(oned, tmp_path)
    oned.fail_next("one.image.allocate", ACTION, "Cannot allocate: quota exceeded")
    with pytest.raises(BackendError, match="quota exceeded"):
        publish(one, cache)
    bad = OpenNebulaBackend(OpenNebulaConfig(), OneClient(oned.endpoint, "oneadmin:wrong"))
    with pytest.raises(BackendUnavailableError, match="credentials"):
        bad.list_images()
    port = oned.port
    oned.stop()
    down = OpenNebulaBackend(
        OpenNebulaConfig(), OneClient(f"http://127.0.0.1:{port}/RPC2", "oneadmin:x")
    )
    with pytest.raises(BackendUnavailableError, match="cannot reach OpenNebula"):
        down.list_images()


def test_command_reads_one_xmlrpc_and_one_auth_and_exits_non_zero_on_failure(
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    auth = tmp_path / "one_auth"
    auth.write_text("oneadmin:opennebula\n")
    config = tmp_path / "opennebula.toml"
    config.write_text(f'poll_interval = 0.01\nconversion_dir = "{tmp_path}/c"\n')
    digest = cache.disk(ID)
    for key in list(os.environ):
        if key.startswith("VMCATCHER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ONE_XMLRPC", oned.endpoint)
    monkeypatch.setenv("ONE_AUTH", str(auth))
    monkeypatch.setenv("IMAGELIST_OPENNEBULA_CONFIG", str(config))
    for key, value in available(cache, ID, digest).items():
        monkeypatch.setenv(key, value)
    assert imagelist_opennebula.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would: opennebula: one.image.allocate" in out
    assert oned.images == {}
    assert imagelist_opennebula.main([]) == 0
    assert f"{ID} is image 0 (active)" in capsys.readouterr().out
    assert imagelist_opennebula.main(["--list"]) == 0
    assert ID in capsys.readouterr().out
    oned.fail_next("one.imagepool.info", 0x2000, "Internal error")
    assert imagelist_opennebula.main([]) == 50
    err = capsys.readouterr().err.strip()
    assert err.startswith("imagelist-opennebula: error: OpenNebula: one.imagepool.info failed")
    assert len(err.splitlines()) == 1
    monkeypatch.setenv("ONE_AUTH", str(tmp_path / "missing"))
    assert imagelist_opennebula.main([]) == 1


def test_read_session_defaults(tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    auth.write_text("nouser\n")
    with pytest.raises(BackendConfigError, match="user:password"):
        read_session(OpenNebulaConfig(auth_file=str(auth)), {})
    auth.write_text("u:p\n")
    assert read_session(OpenNebulaConfig(auth_file=str(auth)), {}) == (
        "http://localhost:2633/RPC2",
        "u:p",
    )


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="octal"):
        OpenNebulaConfig(permissions="999")
    with pytest.raises(ValueError, match="negative"):
        OpenNebulaConfig(delete_retired_after_days=-1)
    with pytest.raises(ValueError, match="positive"):
        OpenNebulaConfig(poll_interval=0)


def test_first_image_gets_configured_permissions(
    oned: FakeOned, cache: Cache, tmp_path: Path
) -> None:
    publish(backend(oned, tmp_path, permissions="640"), cache)
    assert oned.images[0].permissions == [1, 1, 0, 1, 0, 0, 0, 0, 0]


def test_fake_oned_parses_attribute_templates_and_reports_errors() -> None:
    assert parse_template('NAME = "a \\"b\\""\nTYPE = OS') == {"NAME": 'a "b"', "TYPE": "OS"}
    with FakeOned() as fake:
        admin = fake.users["oneadmin"]
        image_id = fake.image_allocate(admin, 'NAME="x"\nPATH="/nonexistent"', 1)
        fake.image_info(admin, image_id)
        fake.image_info(admin, image_id)
        assert fake.images[image_id].state == ERROR
        assert fake.image_enable(admin, image_id, True) == image_id
        assert fake.images[image_id].state == READY


def _garble(oned: FakeOned, method: str, tag: str, value: str | None) -> None:
    """Make every successful answer of ``method`` carry ``tag`` as ``value`` (None: removed)."""
    import xml.etree.ElementTree as ET

    assert oned.server is not None
    original = oned.server.funcs[method]

    def garbled(*params: object) -> object:
        response = original(*params)
        if response[0] is True:
            root = ET.fromstring(response[1])
            for parent in list(root.iter()):
                for child in [c for c in parent if c.tag == tag]:
                    if value is None:
                        parent.remove(child)
                    else:
                        child.text = value
            response[1] = ET.tostring(root, encoding="unicode")
        return response

    oned.server.funcs[method] = garbled


@pytest.mark.parametrize(
    ("method", "tag", "value"),
    [
        ("one.imagepool.info", "STATE", None),
        ("one.imagepool.info", "UID", "root"),
        ("one.image.info", "ID", "five"),
    ],
)
def test_a_malformed_answer_from_oned_is_a_backend_error_not_an_internal_one(
    oned: FakeOned, cache: Cache, tmp_path: Path, method: str, tag: str, value: str | None
) -> None:
    one = backend(oned, tmp_path)
    publish(one, cache)
    _garble(oned, method, tag, value)
    with pytest.raises(BackendError, match="malformed answer") as raised:
        publish(one, cache, seed=3)
    assert raised.value.exit_code == 50
    assert "\n" not in str(raised.value)


def test_two_retirements_of_one_identifier_within_a_second_both_succeed(
    oned: FakeOned, cache: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, tzinfo

    from imagelist.backends import opennebula
    from imagelist.backends.handler import handle

    class FrozenClock(datetime):
        """Every retirement happens in the same second."""

        @classmethod
        def now(cls, tz: tzinfo | None = None) -> FrozenClock:
            return cls(2026, 11, 29, 12, 0, 0, tzinfo=UTC)

    monkeypatch.setattr(opennebula, "datetime", FrozenClock)
    one = backend(oned, tmp_path)
    first = publish(one, cache, seed=1)
    handle(one, expire(ID, first))
    second = publish(one, cache, seed=2)
    handle(one, process())
    handle(one, expire(ID, second))
    publish(one, cache, seed=3)
    handle(one, process())
    retired = sorted(i.name for i in oned.images.values() if i.name != ID)
    assert len(retired) == 2
    assert all(name.startswith(f"{ID}_EXPIRED_") for name in retired)
    assert retired[0] != retired[1]
    assert [i.name for i in oned.images.values()].count(ID) == 1
