"""Signed list → subscribe → -U → vmcatcher_image -a → vmcatcher_cache, with the events of §2.7."""

from __future__ import annotations

import hashlib
import os
import re
import time
from datetime import timedelta
from pathlib import Path

from tests.cache.support import CacheSite, image_bytes
from tests.subscriber.support import LIST_ID, now

SESSION = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


def _sha(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def _dirs(site: CacheSite) -> dict[str, str]:
    cache = str(site.cache_dir)
    return {
        "VMCATCHER_CACHE_DIR_CACHE": cache,
        "VMCATCHER_CACHE_DIR_DOWNLOAD": os.path.join(cache, "partial"),
        "VMCATCHER_CACHE_DIR_EXPIRE": os.path.join(cache, "expired"),
        "VMCATCHER_RDBMS": site.site.database,
    }


def _image_variables(site: CacheSite, identifier: str, kind: str, filename: str) -> dict[str, str]:
    content = site.contents[identifier]
    return {
        "VMCATCHER_EVENT_TYPE": kind,
        "VMCATCHER_EVENT_DC_IDENTIFIER": identifier,
        "VMCATCHER_EVENT_DC_TITLE": f"Image {identifier}",
        "VMCATCHER_EVENT_DC_DESCRIPTION": f"The {identifier} appliance",
        "VMCATCHER_EVENT_HV_URI": site.server.url(f"/images/{identifier}"),
        "VMCATCHER_EVENT_HV_SIZE": str(len(content)),
        "VMCATCHER_EVENT_HV_VERSION": "1",
        "VMCATCHER_EVENT_HV_HYPERVISOR": "kvm",
        "VMCATCHER_EVENT_SL_ARCH": "x86_64",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512": _sha(content),
        "VMCATCHER_EVENT_SL_OS": "Linux",
        "VMCATCHER_EVENT_SL_OSVERSION": "9",
        "VMCATCHER_EVENT_FILENAME": filename,
        "VMCATCHER_EVENT_IL_DC_IDENTIFIER": LIST_ID,
        "VMCATCHER_EVENT_HV_FORMAT": "QCOW2",
        **_dirs(site),
    }


def _without_session(events: list[dict[str, str]]) -> list[dict[str, str]]:
    sessions = {event.pop("VMCATCHER_EVENT_UUID_SESSION") for event in events}
    assert len(sessions) == 1, "one UUID_SESSION per run"
    assert SESSION.fullmatch(sessions.pop()), "a uuid1, as vmcatcher"
    return events


def test_download_revoke_and_update_with_exact_events(cache_site: CacheSite) -> None:
    site = cache_site
    result = site.cache("-j", "1")  # one at a time: events in database order, as 0.6
    assert result.code == 0, result.err
    assert result.out.startswith("2 downloaded, 0 expired, 0 failed, 305.0 KiB in ")
    for identifier in ("img-a", "img-b"):
        cached = site.cache_dir / identifier
        assert _sha(cached.read_bytes()) == _sha(site.contents[identifier])
    assert sorted(os.listdir(site.cache_dir)) == [
        ".vmcatcher_cache.lock",
        "cache.index",
        "expired",
        "img-a",
        "img-b",
        "partial",
    ]
    assert site.index("partial") == {}
    process = _dirs(site)
    assert _without_session(site.events()) == [
        {"VMCATCHER_EVENT_TYPE": "ProcessPrefix", **process},
        _image_variables(site, "img-a", "AvailablePrefix", "img-a"),
        _image_variables(site, "img-a", "AvailablePostfix", "img-a"),
        _image_variables(site, "img-b", "AvailablePrefix", "img-b"),
        _image_variables(site, "img-b", "AvailablePostfix", "img-b"),
        {"VMCATCHER_EVENT_TYPE": "ProcessPostfix", **process},
    ]

    # Nothing changed: nothing downloaded, only the Process events.
    site.clear_log()
    requests_before = len(site.server.requests)
    result = site.cache()
    assert result.out.startswith("0 downloaded, 0 expired, 0 failed")
    assert site.event_types() == [("ProcessPrefix", ""), ("ProcessPostfix", "")]
    assert len(site.server.requests) == requests_before

    # Revocation: img-a leaves the list.
    site.clear_log()
    site.publish("2.0", [site.images["img-b"]])
    result = site.cache()
    assert result.out.startswith("0 downloaded, 1 expired, 0 failed")
    (expired_name,) = [n for n in os.listdir(site.cache_dir / "expired") if n != "cache.index"]
    assert re.fullmatch(r"img-a\.\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", expired_name)
    assert not (site.cache_dir / "img-a").exists()
    assert (site.cache_dir / "expired" / expired_name).read_bytes() == site.contents["img-a"]
    assert site.index("expired")[expired_name]["filename"] == expired_name
    assert set(site.index()) == {"img-b"}
    assert _without_session(site.events()) == [
        {"VMCATCHER_EVENT_TYPE": "ProcessPrefix", **process},
        _image_variables(site, "img-a", "ExpirePrefix", "img-a"),
        _image_variables(site, "img-a", "ExpirePostfix", expired_name),
        {"VMCATCHER_EVENT_TYPE": "ProcessPostfix", **process},
    ]

    # Update: img-b gets new content under the same id. The old one stays in service until the
    # new one is verified; then the Prefix events, the swap, the Postfix events (ADR 0009).
    site.clear_log()
    old = dict(_image_variables(site, "img-b", "ExpirePrefix", "img-b"))
    new_content = image_bytes("img-b v2", 7000)
    site.serve("img-b", new_content)
    site.describe("img-b", new_content)
    site.publish("3.0", [site.images["img-b"]])
    result = site.cache()
    assert result.out.startswith("1 downloaded, 1 expired, 0 failed")
    assert (site.cache_dir / "img-b").read_bytes() == new_content
    events = _without_session(site.events())
    assert [e["VMCATCHER_EVENT_TYPE"] for e in events] == [
        "ProcessPrefix",
        "ExpirePrefix",
        "AvailablePrefix",
        "ExpirePostfix",
        "AvailablePostfix",
        "ProcessPostfix",
    ]
    assert events[1] == old
    assert events[2] == _image_variables(site, "img-b", "AvailablePrefix", "img-b")
    assert (
        events[3]["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == old["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"]
    )
    assert events[3]["VMCATCHER_EVENT_FILENAME"].startswith("img-b.")
    assert events[4] == _image_variables(site, "img-b", "AvailablePostfix", "img-b")
    assert {e.get("VMCATCHER_EVENT_DC_IDENTIFIER") for e in events[1:5]} == {"img-b"}


def test_index_keeps_vmcatcher_keys(cache_site: CacheSite) -> None:
    cache_site.cache()
    entry = cache_site.index()["img-a"]
    content = cache_site.contents["img-a"]
    assert set(entry) == {
        "uuid",
        "sha512",
        "uri",
        "size",
        "dc:identifier",
        "sl:checksum:sha512",
        "hv:uri",
        "hv:size",
        "dc:title",
        "dc:description",
        "hv:version",
        "hv:hypervisor",
        "sl:arch",
        "sl:comments",
        "sl:os",
        "sl:osversion",
        "hv:imagelist.dc:identifier",
        "message",
        "msgHash",
        "filename",
        "DownLoadTrys",
        *(f"hv:image.{key}" for key in cache_site.images["img-a"].to_dict()),
    }
    assert entry["uuid"] == entry["dc:identifier"] == entry["filename"] == "img-a"
    assert entry["size"] == entry["hv:size"] == len(content)
    assert entry["sha512"] == entry["sl:checksum:sha512"] == _sha(content)
    assert entry["hv:image.hv:format"] == "QCOW2"
    assert entry["DownLoadTrys"]["count"] == 1
    assert entry["message"].startswith("MIME-Version") or "multipart/signed" in entry["message"]
    assert entry["msgHash"] == hashlib.sha512(entry["message"].encode()).hexdigest()
    text = (cache_site.cache_dir / "cache.index").read_text()
    assert text.startswith('{\n    "img-a": {\n')


def test_unsubscribing_an_image_expires_it(cache_site: CacheSite) -> None:
    cache_site.cache()
    assert cache_site.site.image("-r", "-u", "img-b").code == 0
    cache_site.clear_log()
    result = cache_site.cache()
    assert "1 expired" in result.out
    assert ("ExpirePostfix", "img-b") in cache_site.event_types()
    assert set(cache_site.index()) == {"img-a"}


def test_new_list_version_refreshes_the_message_without_download(cache_site: CacheSite) -> None:
    cache_site.cache()
    before = cache_site.index()["img-a"]["msgHash"]
    cache_site.publish("1.1")
    result = cache_site.cache()
    assert result.out.startswith("0 downloaded, 0 expired")
    after = cache_site.index()["img-a"]
    assert after["msgHash"] != before
    assert after["msgHash"] == hashlib.sha512(after["message"].encode()).hexdigest()


def test_an_expired_list_retires_its_images(cache_site: CacheSite) -> None:
    """D7: the subscriber marks an expired list; its images are no longer available."""
    cache_site.cache()
    result = cache_site.publish(
        "2.0",
        update=False,
        created=now() - timedelta(hours=1),
        expires=now() + timedelta(seconds=2),
    )
    assert result is None
    assert cache_site.world.update().code == 0
    time.sleep(2.5)
    assert cache_site.world.update().code == 34
    cache_site.clear_log()
    result_cache = cache_site.cache()
    assert "0 downloaded, 2 expired" in result_cache.out
    assert cache_site.index() == {}


def test_directories_and_actions_from_the_environment(
    cache_site: CacheSite, tmp_path: Path
) -> None:
    cache = f"{tmp_path}/c/"  # with a trailing slash, as gpvmcupdate expects it kept
    partial = f"{tmp_path}/p"
    expired = f"{tmp_path}/e"
    env = {
        "VMCATCHER_CACHE_DIR_CACHE": cache,
        "VMCATCHER_CACHE_DIR_DOWNLOAD": partial,
        "VMCATCHER_CACHE_DIR_EXPIRE": expired,
        "VMCATCHER_CACHE_EVENT": cache_site.handler,
        "VMCATCHER_RDBMS": cache_site.site.database,
        "VMCATCHER_CACHE_ACTION_DOWNLOAD": "yes",  # only "1" counts
        "VMCATCHER_CACHE_ACTION_CHECK": "1",
    }
    from imagelist.cli import vmcatcher_cache
    from tests.cache.support import clean_environment

    with clean_environment():
        os.environ.update(env)
        assert vmcatcher_cache.main([]) == 0
    assert cache_site.events()[0]["VMCATCHER_CACHE_DIR_CACHE"] == cache
    assert cache_site.events()[0]["VMCATCHER_CACHE_DIR_DOWNLOAD"] == partial
    assert cache_site.events()[0]["VMCATCHER_CACHE_DIR_EXPIRE"] == expired
    assert Path(partial).is_dir(), "missing directories are created"
    assert Path(expired).is_dir()
    assert cache_site.event_types() == [("ProcessPrefix", ""), ("ProcessPostfix", "")], (
        "CHECK alone: no download"
    )
    with clean_environment():
        os.environ.update({**env, "VMCATCHER_CACHE_ACTION_DOWNLOAD": "1"})
        assert vmcatcher_cache.main([]) == 0
    assert (Path(cache) / "img-a").is_file()
    assert (Path(cache) / "cache.index").is_file()
