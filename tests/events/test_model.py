"""The VMCATCHER_EVENT_* variable set (reference §2.7)."""

from __future__ import annotations

import os

import pytest

from imagelist.document import Image
from imagelist.events import (
    TRUNCATION_MARKER,
    VALUE_CAP,
    Event,
    EventType,
    environment_budget,
    environment_size,
    event_variables,
    handler_environment,
    image_new_metadata,
    truncate_value,
)

SHA = "ab" * 64


def _image(**overrides: object) -> Image:
    fields: dict[str, object] = {
        "identifier": "img-1",
        "title": "Title",
        "description": "Desc",
        "uri": "http://h/img",
        "size": 42,
        "sha512": SHA,
        "arch": "x86_64",
        "os": "Linux",
        "osversion": "9",
        "comments": "",
        "hypervisor": "kvm",
        "version": "1.0",
        "unrecognized_fields": {"hv:format": "QCOW2", "ad:mpuri": "https://mp/1"},
    }
    fields.update(overrides)
    return Image(**fields)  # type: ignore[arg-type]


def test_subscription_image_new_carries_exactly_the_twelve_keys() -> None:
    metadata = image_new_metadata(_image())
    assert set(metadata) == {
        "dc:identifier",
        "dc:title",
        "dc:description",
        "hv:uri",
        "hv:size",
        "hv:version",
        "hv:hypervisor",
        "sl:arch",
        "sl:checksum:sha512",
        "sl:comments",
        "sl:os",
        "sl:osversion",
    }
    variables = event_variables(Event(EventType.SUBSCRIPTION_IMAGE_NEW, metadata, "S"))
    assert variables == {
        "VMCATCHER_EVENT_TYPE": "SubscriptionImageNew",
        "VMCATCHER_EVENT_UUID_SESSION": "S",
        "VMCATCHER_EVENT_DC_IDENTIFIER": "img-1",
        "VMCATCHER_EVENT_DC_TITLE": "Title",
        "VMCATCHER_EVENT_DC_DESCRIPTION": "Desc",
        "VMCATCHER_EVENT_HV_URI": "http://h/img",
        "VMCATCHER_EVENT_HV_SIZE": "42",
        "VMCATCHER_EVENT_HV_VERSION": "1.0",
        "VMCATCHER_EVENT_HV_HYPERVISOR": "kvm",
        "VMCATCHER_EVENT_SL_ARCH": "x86_64",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512": SHA,
        "VMCATCHER_EVENT_SL_OS": "Linux",
        "VMCATCHER_EVENT_SL_OSVERSION": "9",
    }, "sl:comments is empty, so VMCATCHER_EVENT_SL_COMMENTS is absent"


def test_cache_event_keys_legacy_keys_filename_and_extra() -> None:
    metadata = {
        "uuid": "legacy-id",
        "size": 7,
        "sha512": SHA,
        "filename": "/var/cache/vmcatcher/cache/legacy-id",
        "hv:imagelist.dc:identifier": "list-1",
        "hv:image.hv:format": "OVA",
        "hv:image.ad:mpuri": "https://mp/2",
        "hv:imagelist.ad:vo": "ops",
        "sl:comments": "c",
        "unrelated": "x",
        "hv:version": True,
    }
    event = Event(
        EventType.AVAILABLE_POSTFIX,
        metadata,
        "S",
        {"VMCATCHER_CACHE_DIR_CACHE": "/var/cache/", "VMCATCHER_RDBMS": ""},
    )
    variables = event_variables(event)
    assert variables["VMCATCHER_EVENT_DC_IDENTIFIER"] == "legacy-id"
    assert variables["VMCATCHER_EVENT_HV_SIZE"] == "7"
    assert variables["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == SHA
    assert variables["VMCATCHER_EVENT_FILENAME"] == "legacy-id"
    assert variables["VMCATCHER_EVENT_IL_DC_IDENTIFIER"] == "list-1"
    assert variables["VMCATCHER_EVENT_HV_FORMAT"] == "OVA"
    assert variables["VMCATCHER_EVENT_AD_MPURI"] == "https://mp/2"
    assert variables["VMCATCHER_EVENT_VO"] == "ops"
    assert variables["VMCATCHER_EVENT_SL_COMMENTS"] == "c"
    assert variables["VMCATCHER_EVENT_HV_VERSION"] == "True"
    assert variables["VMCATCHER_CACHE_DIR_CACHE"] == "/var/cache/", "kept as configured"
    assert "VMCATCHER_RDBMS" not in variables
    assert event.identifier == "legacy-id"


def test_modern_key_wins_over_legacy_and_nul_values_are_dropped() -> None:
    event = Event(
        EventType.EXPIRE_PREFIX,
        {"dc:identifier": "new", "uuid": "old", "dc:title": "a\0b"},
    )
    variables = event_variables(event)
    assert variables["VMCATCHER_EVENT_DC_IDENTIFIER"] == "new"
    assert "VMCATCHER_EVENT_DC_TITLE" not in variables
    assert "VMCATCHER_EVENT_UUID_SESSION" not in variables


def test_process_events_carry_no_metadata() -> None:
    assert event_variables(Event(EventType.PROCESS_PREFIX, {}, "S")) == {
        "VMCATCHER_EVENT_TYPE": "ProcessPrefix",
        "VMCATCHER_EVENT_UUID_SESSION": "S",
    }
    assert Event(EventType.PROCESS_PREFIX).identifier is None


def test_handler_environment_drops_inherited_event_variables() -> None:
    base = {"PATH": "/bin", "VMCATCHER_EVENT_DC_TITLE": "stale", "HOME": "/root"}
    environment = handler_environment(Event(EventType.PROCESS_POSTFIX, {}, "S"), base)
    assert environment == {
        "PATH": "/bin",
        "HOME": "/root",
        "VMCATCHER_EVENT_TYPE": "ProcessPostfix",
        "VMCATCHER_EVENT_UUID_SESSION": "S",
    }
    assert "PATH" in handler_environment(Event(EventType.PROCESS_POSTFIX), os.environ)


def test_event_names_are_the_original_spellings() -> None:
    assert [str(kind) for kind in EventType] == [
        "ProcessPrefix",
        "ExpirePrefix",
        "ExpirePostfix",
        "AvailablePrefix",
        "AvailablePostfix",
        "ProcessPostfix",
        "SubscriptionImageNew",
    ]


def test_a_long_value_is_cut_to_the_cap_with_the_marker(caplog: pytest.LogCaptureFixture) -> None:
    description = "é" * 100_000  # 200 000 bytes of UTF-8
    event = Event(
        EventType.AVAILABLE_POSTFIX, {"dc:identifier": "img-1", "dc:description": description}
    )
    value = event_variables(event)["VMCATCHER_EVENT_DC_DESCRIPTION"]
    raw = value.encode()
    assert len(raw) <= VALUE_CAP
    assert value.endswith(TRUNCATION_MARKER.format(size=200_000))
    assert description.startswith(value[: -len(TRUNCATION_MARKER.format(size=200_000))])
    assert "VMCATCHER_EVENT_DC_DESCRIPTION is 200000 bytes; cut to" in caplog.text
    assert truncate_value("short", VALUE_CAP) == "short"


def test_the_whole_environment_is_fitted_to_the_budget() -> None:
    metadata = {
        "dc:identifier": "img-1",
        "dc:description": "d" * 30_000,
        "dc:title": "t" * 30_000,
        "sl:comments": "c" * 100,
    }
    event = Event(EventType.AVAILABLE_POSTFIX, metadata, "S")
    base = {"PATH": "/bin", "ADMIN": "a" * 20_000}
    argv = ["/bin/sh", "-c", "handler"]
    environment = handler_environment(event, base, argv=argv, budget=40_000)
    assert environment_size(environment, argv) <= 40_000
    assert environment["ADMIN"] == base["ADMIN"], "the admin's variables are never cut"
    assert environment["VMCATCHER_EVENT_SL_COMMENTS"] == "c" * 100, "small values are kept"
    assert environment["VMCATCHER_EVENT_DC_IDENTIFIER"] == "img-1"
    for name in ("VMCATCHER_EVENT_DC_DESCRIPTION", "VMCATCHER_EVENT_DC_TITLE"):
        assert environment[name].endswith(TRUNCATION_MARKER.format(size=30_000))
    # the default budget is half of the system's ARG_MAX
    assert environment_budget() <= os.sysconf("SC_ARG_MAX")
