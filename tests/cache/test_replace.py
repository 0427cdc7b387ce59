"""Issue 10 §2: replace before retire.

A new version of a cached image (same id, another sha512) is downloaded and verified while the
old file, its index entry and the cloud's image (no Expire event) stay in service. Then
ExpirePrefix(old), AvailablePrefix(new), the swap (one ``renameat2`` exchange, journaled),
ExpirePostfix(old), AvailablePostfix(new). A failed download retires nothing and is reported
(exit 40). A revocation still retires at once.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys

import pytest

from imagelist.document import Image
from tests.cache.support import CacheSite, image_bytes
from tests.cache.test_faults import assert_consistent

NEW = image_bytes("img-b version 2", 7000)


def _sha(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (the image server is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _publish_new_version(site: CacheSite, uri: str | None = None, version: str = "2.0") -> Image:
    fields = {} if uri is None else {"uri": uri}
    image = site.describe("img-b", NEW, **fields)
    site.publish(version)
    return image


def _assert_old_in_service(site: CacheSite, old: bytes) -> None:
    assert (site.cache_dir / "img-b").read_bytes() == old
    assert site.index()["img-b"]["sha512"] == _sha(old)
    assert site.index("expired") == {}
    kinds = [kind for kind, _ in site.event_types()]
    assert "ExpirePrefix" not in kinds
    assert "ExpirePostfix" not in kinds, "the cloud keeps its image"
    assert_consistent(site)


def _expired_versions(site: CacheSite) -> list[bytes]:
    expired = site.index("expired")
    names = [key for key in expired if key.startswith("img-b.")]
    return [(site.cache_dir / "expired" / name).read_bytes() for name in names]


def test_update_with_the_server_down_keeps_the_old_image(cache_site: CacheSite) -> None:
    site = cache_site
    site.cache()
    old = site.contents["img-b"]
    _publish_new_version(site, f"http://127.0.0.1:{_closed_port()}/images/img-b")
    site.clear_log()
    result = site.cache("--retries", "0")
    assert result.code == 40
    assert result.out.startswith("0 downloaded, 0 expired, 1 failed (img-b)")
    assert "img-b: " in result.err
    _assert_old_in_service(site, old)
    assert site.event_types() == [("ProcessPrefix", ""), ("ProcessPostfix", "")]
    status = site.cache("--status", handler=False)
    assert "img-b\treplace\t0 of 7000 bytes in partial/; 1 failed attempt(s)" in status.out
    assert "an older version is cached and in service" in status.out
    # The server is back (same content at the list's new URI): the swap, then the events.
    site.serve("img-b", NEW)
    _publish_new_version(site, version="2.1")
    site.clear_log()
    result = site.cache()
    assert result.code == 0, result.err
    assert result.out.startswith("1 downloaded, 1 expired, 0 failed")
    assert (site.cache_dir / "img-b").read_bytes() == NEW
    assert _expired_versions(site) == [old]
    assert site.event_types() == [
        ("ProcessPrefix", ""),
        ("ExpirePrefix", "img-b"),
        ("AvailablePrefix", "img-b"),
        ("ExpirePostfix", "img-b"),
        ("AvailablePostfix", "img-b"),
        ("ProcessPostfix", ""),
    ]
    events = site.events()
    assert events[1]["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == _sha(old)
    assert events[1]["VMCATCHER_EVENT_FILENAME"] == "img-b"
    assert events[2]["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == _sha(NEW)
    assert events[3]["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == _sha(old)
    assert events[3]["VMCATCHER_EVENT_FILENAME"].startswith("img-b.")
    assert events[4]["VMCATCHER_EVENT_SL_CHECKSUM_SHA512"] == _sha(NEW)
    assert events[4]["VMCATCHER_EVENT_FILENAME"] == "img-b"
    assert site.index("partial") == {}
    assert_consistent(site)


def test_update_with_a_hash_mismatch_keeps_the_old_image(cache_site: CacheSite) -> None:
    site = cache_site
    site.cache()
    old = site.contents["img-b"]
    _publish_new_version(site)
    site.server.put("/images/img-b", bytes(len(NEW)))  # the right size, other bytes
    site.clear_log()
    result = site.cache()
    assert result.code == 40
    assert "0 expired, 1 failed (img-b)" in result.out
    assert "sha512 of the 7000 bytes received is not the list's" in result.err
    _assert_old_in_service(site, old)
    assert not (site.cache_dir / "partial" / "img-b").exists()


def test_update_then_revocation_retires_at_once(cache_site: CacheSite) -> None:
    site = cache_site
    site.cache()
    _publish_new_version(site, f"http://127.0.0.1:{_closed_port()}/images/img-b")
    assert site.cache("--retries", "0").code == 40
    site.publish("3.0", [site.images["img-a"]])  # img-b leaves the list: revoked
    site.clear_log()
    result = site.cache()
    assert result.code == 0, result.err
    assert result.out.startswith("0 downloaded, 1 expired, 0 failed")
    assert site.event_types() == [
        ("ProcessPrefix", ""),
        ("ExpirePrefix", "img-b"),
        ("ExpirePostfix", "img-b"),
        ("ProcessPostfix", ""),
    ]
    assert "img-b" not in site.index()
    assert "img-b" not in site.index("partial"), "the pending new version is dropped"
    assert _expired_versions(site) == [site.contents["img-b"]]
    assert_consistent(site)


#: vmcatcher_cache that kills itself (SIGKILL) at one point of the replace step.
KILLER = """
import os, signal, sys
from imagelist.cache import cache, journal, steps
from imagelist.cache.index import ManagedDirectory
from imagelist.cli.vmcatcher_cache import main

point = os.environ["KILL_AT"]
state = {"armed": False, "saves": 0}

def kill(name):
    if state["armed"] and name == point:
        os.kill(os.getpid(), signal.SIGKILL)

def wrap(owner, attr, name):
    real = getattr(owner, attr)
    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        if name == "save" and state["armed"]:
            state["saves"] += 1
            kill(f"save{state['saves']}")
        else:
            kill(name)
        return result
    setattr(owner, attr, wrapper)

real_begin = journal.Journal.begin
def begin(self, step):
    real_begin(self, step)
    state["armed"] = step.op == "replace"
journal.Journal.begin = begin
wrap(steps, "exchange", "exchange")
wrap(cache, "move_file", "move")
wrap(ManagedDirectory, "save", "save")
wrap(journal.Journal, "end", "end")
sys.exit(main())
"""

KILL_HANDLER = 'if [ "$VMCATCHER_EVENT_TYPE" = {event} ]; then kill -{signal} $PPID; fi'


def _run_killed(site: CacheSite, point: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMCATCHER_")}
    handler = site.handler
    code = "import sys; from imagelist.cli.vmcatcher_cache import main; sys.exit(main())"
    if point.startswith(("event:", "term:")):
        kind, event = point.split(":")
        handler += "; " + KILL_HANDLER.format(event=event, signal=9 if kind == "event" else 15)
    else:
        code = KILLER
        env["KILL_AT"] = point
    command = [sys.executable, "-c", code, "-d", site.site.database, "-C", str(site.cache_dir)]
    return subprocess.run(
        [*command, "-x", handler], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "point",
    [
        "event:ExpirePrefix",
        "event:AvailablePrefix",
        "exchange",  # the new file in cache/, the old one in partial/
        "move",  # the old one in expired/, no index written
        "save1",  # expired index written
        "save2",  # cache index written
        "save3",  # partial index written, journal still there
        "end",  # journal ended, no Postfix event sent
        "event:ExpirePostfix",
        "term:ExpirePostfix",  # systemctl stop between the two Postfix events
    ],
)
def test_kill_9_during_the_swap(cache_site: CacheSite, point: str) -> None:
    site = cache_site
    site.cache()
    old = site.contents["img-b"]
    site.serve("img-b", NEW)
    _publish_new_version(site)
    site.clear_log()
    done = _run_killed(site, point)
    expected = 130 if point.startswith("term:") else -signal.SIGKILL
    assert done.returncode == expected, (point, done.stdout, done.stderr)
    # At every moment the cache holds a verified img-b: the old one or the new one.
    assert (site.cache_dir / "img-b").read_bytes() in (old, NEW), point
    result = site.cache()
    assert result.code == 0, (point, result.err)
    assert (site.cache_dir / "img-b").read_bytes() == NEW
    assert site.index()["img-b"]["sha512"] == _sha(NEW)
    assert _expired_versions(site) == [old], "the old one retired exactly once"
    assert site.index("partial") == {}
    assert not (site.cache_dir / ".vmcatcher_cache.journal").exists()
    assert not (site.cache_dir / "partial" / "img-b").exists()
    assert_consistent(site)
    kinds = site.event_types()
    assert ("ExpirePostfix", "img-b") in kinds, "sent, or owed and sent by the next run"
    assert ("AvailablePostfix", "img-b") in kinds
    assert site.cache().out.startswith("0 downloaded, 0 expired, 0 failed")
