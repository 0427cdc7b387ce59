"""The backend interface pieces: strict configuration, events to ImageSpecs, the handler glue."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imagelist.backends.base import Calls, load_config, spec_from_variables
from imagelist.backends.glance import GlanceConfig
from imagelist.backends.handler import handle, opennebula
from imagelist.backends.opennebula import OpenNebulaConfig
from imagelist.errors import BackendConfigError, EventDataError
from imagelist.events import Event, EventType, load_handler
from tests.backends.support import Cache, available
from tests.fakes.oned import FakeOned

SHA = "a" * 128


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "backend.toml"
    path.write_text(text)
    return path


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, 'cloud = "x"\nretire_mod = "hide"\n')
    with pytest.raises(BackendConfigError, match="unknown key 'retire_mod'"):
        load_config(GlanceConfig, path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("adopt = 1", "adopt must be true or false"),
        ('delete_retired_after_days = "7"', "must be an integer"),
        ("delete_retired_after_days = true", "must be an integer"),
        ('poll_interval = "1"', "must be a number"),
        ("datastore = 5", "datastore must be a string"),
        ("disk_formats = [1]", "list of strings"),
        ("[vo_projects]\nvo = 5", "vo_projects.vo must be a list of strings"),
        ('vo_projects = "x"', "must be a table"),
        ('retire_mode = "burn"', "retire_mode must be one of"),
        ('visibility = "secret"', "visibility must be one of"),
        ('tag = ""', "tag must not be empty"),
        ('name_format = "{titel}"', "unknown field 'titel'"),
        ("cloud = [", "not valid TOML"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    cls = (
        OpenNebulaConfig
        if "datastore" in text or "poll" in text or "days" in text
        else GlanceConfig
    )
    with pytest.raises(BackendConfigError, match=message):
        load_config(cls, write(tmp_path, text))


def test_config_types_and_missing_files(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'cloud = "site"\nconversion_timeout = 60\ndisk_formats = "raw"\n'
        '[vo_projects]\n"vo.example" = "p1"\n',
    )
    config = load_config(GlanceConfig, path)
    assert config.vo_projects == {"vo.example": ("p1",)}
    assert config.disk_formats == ("raw",)
    assert config.conversion_timeout == 60.0
    assert load_config(GlanceConfig, tmp_path / "absent.toml") == GlanceConfig()
    with pytest.raises(BackendConfigError, match="does not exist"):
        load_config(GlanceConfig, tmp_path / "absent.toml", required=True)
    with pytest.raises(BackendConfigError, match="cannot read"):
        load_config(GlanceConfig, tmp_path)
    assert load_config(OpenNebulaConfig, None).datastore == "default"
    assert GlanceConfig(conversion_dir="/x").conversion_path(os.environ) == Path("/x")
    assert OpenNebulaConfig(conversion_dir="/y").conversion_path(os.environ) == Path("/y")
    assert OpenNebulaConfig().conversion_path(os.environ).parts[-2:] == ("imagelist", "conversions")


def test_spec_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "img").write_bytes(b"x")
    env = {
        "VMCATCHER_EVENT_DC_IDENTIFIER": "img",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512": SHA.upper(),
        "VMCATCHER_CACHE_DIR_CACHE": str(tmp_path),
        "VMCATCHER_EVENT_HV_FORMAT": "OVA",
        "VMCATCHER_EVENT_VO": "vo.example",
        "VMCATCHER_EVENT_AD_MPURI": "https://appdb.example/x",
    }
    spec = spec_from_variables(env)
    assert spec.path == tmp_path / "img"  # no FILENAME: the identifier, as the CESGA handler
    assert spec.sha512 == SHA
    assert spec.is_ova
    assert spec.vo == "vo.example"
    assert spec.attributes == {
        "dc:identifier": "img",
        "sl:checksum:sha512": SHA.upper(),
        "hv:format": "OVA",
        "ad:mpuri": "https://appdb.example/x",
    }
    assert "VMCATCHER_CACHE_DIR_CACHE" not in spec.variables


def test_attributes_from_metadata_then_cache_index(tmp_path: Path) -> None:
    (tmp_path / "img").write_bytes(b"x")
    env = {
        "VMCATCHER_EVENT_DC_IDENTIFIER": "img",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512": SHA,
        "VMCATCHER_CACHE_DIR_CACHE": str(tmp_path),
    }
    entry = {
        "hv:image.dc:identifier": "img",
        "hv:image.sl:checksum:sha512": SHA,
        "hv:image.ad:ram_recommended": "2048",
        "dc:identifier": "img",
    }
    assert spec_from_variables(env, entry).attributes["ad:ram_recommended"] == "2048"
    (tmp_path / "cache.index").write_text(json.dumps({"img": entry}))
    assert spec_from_variables(env).attributes["ad:ram_recommended"] == "2048"
    (tmp_path / "cache.index").write_text(
        json.dumps({"img": {**entry, "hv:image.sl:checksum:sha512": "b" * 128}})
    )
    assert "ad:ram_recommended" not in spec_from_variables(env).attributes  # another version
    (tmp_path / "cache.index").write_text(json.dumps({"img": "broken"}))
    assert spec_from_variables(env).attributes == {
        "dc:identifier": "img",
        "sl:checksum:sha512": SHA,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"VMCATCHER_EVENT_DC_IDENTIFIER": ""}, "no VMCATCHER_EVENT_DC_IDENTIFIER"),
        ({"VMCATCHER_EVENT_DC_IDENTIFIER": "../etc"}, "unusable image identifier"),
        ({"VMCATCHER_EVENT_SL_CHECKSUM_SHA512": "abc"}, "SL_CHECKSUM_SHA512"),
        ({"VMCATCHER_CACHE_DIR_CACHE": ""}, "VMCATCHER_CACHE_DIR_CACHE is not set"),
        ({"VMCATCHER_EVENT_FILENAME": ".."}, "unusable VMCATCHER_EVENT_FILENAME"),
        ({"VMCATCHER_EVENT_FILENAME": "other"}, "does not exist"),
    ],
)
def test_bad_events_are_event_data_errors(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    (tmp_path / "img").write_bytes(b"x")
    env = {
        "VMCATCHER_EVENT_DC_IDENTIFIER": "img",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512": SHA,
        "VMCATCHER_CACHE_DIR_CACHE": str(tmp_path),
        **change,
    }
    with pytest.raises(EventDataError, match=message):
        spec_from_variables(env)


class Recorder:
    """A backend that records what the handler asks of it."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls = Calls("recorder")
        self.seen: list[tuple[str, object]] = []

    def retire(self, identifier: str, sha512: str | None, *, defer: bool) -> list[object]:
        self.seen.append(("retire", (identifier, sha512, defer)))
        return []

    def retire_pending(self, *, keep_session: str | None = None) -> list[object]:
        self.seen.append(("pending", None))
        return []


def test_handler_dispatch_and_ignored_events() -> None:
    backend = Recorder()
    assert handle(backend, {"VMCATCHER_EVENT_TYPE": "AvailablePrefix"}) == (  # type: ignore[arg-type]
        "recorder: AvailablePrefix ignored"
    )
    with pytest.raises(EventDataError, match="unknown or missing"):
        handle(backend, {"VMCATCHER_EVENT_TYPE": "Whatever"})  # type: ignore[arg-type]
    handle(
        backend,
        {
            "VMCATCHER_EVENT_TYPE": "ExpirePostfix",  # type: ignore[arg-type]
            "VMCATCHER_EVENT_DC_IDENTIFIER": "x",
        },
        defer_retire=False,
    )
    handle(backend, {"VMCATCHER_EVENT_TYPE": "ProcessPrefix"})  # type: ignore[arg-type]
    assert backend.seen == [("retire", ("x", None, False)), ("pending", None)]


def test_dry_run_records_instead_of_calling() -> None:
    calls = Calls("b", dry_run=True)
    assert calls.do("change things", lambda: 1 / 0) is None
    assert calls.planned == ["b: change things"]
    assert Calls("b").do("add", lambda a, b: a + b, 1, b=2) == 3


def test_in_process_entry_point_uses_the_event_and_its_metadata(
    oned: FakeOned, cache: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = tmp_path / "one_auth"
    auth.write_text("oneadmin:opennebula\n")
    config = tmp_path / "one.toml"
    config.write_text(f'poll_interval = 0.01\nconversion_dir = "{tmp_path}/c"\n')
    digest = cache.disk("img")
    metadata = {
        "dc:identifier": "img",
        "sl:checksum:sha512": digest,
        "filename": "img",
        "hv:image.dc:identifier": "img",
        "hv:image.hv:format": "QCOW2",
    }
    environ = {  # the environment of the command that emits the events (ADR 0028)
        "ONE_XMLRPC": oned.endpoint,
        "ONE_AUTH": str(auth),
        "IMAGELIST_OPENNEBULA_CONFIG": str(config),
        "VMCATCHER_CACHE_DIR_CACHE": str(cache.path),
    }
    event = Event(EventType.AVAILABLE_POSTFIX, metadata, "session-1", environ=environ)
    assert opennebula(event) is True
    (image,) = oned.images.values()
    assert image.template["VMCATCHER_EVENT_DC_IDENTIFIER"] == "img"
    monkeypatch.setattr(
        "imagelist.events.registry.available_handlers",
        lambda: {"opennebula": _EntryPoint()},
    )
    result = load_handler("opennebula")(
        Event(EventType.PROCESS_POSTFIX, {}, "session-1", environ=environ)
    )
    assert result.ok


class _EntryPoint:
    value = "imagelist.backends.handler:opennebula"

    def load(self) -> object:
        return opennebula


def test_available_env_helper_is_complete(cache: Cache) -> None:
    env = available(cache, "i", SHA)
    assert env["VMCATCHER_CACHE_DIR_CACHE"].endswith("/")
