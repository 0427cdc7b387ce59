"""Attack: a signed list carries a huge dc:description (issue 9 §7).

Before, the 200 KiB value went into the handler's environment as one string, above Linux's
MAX_ARG_STRLEN (128 KiB): every launch failed with "Argument list too long", the cause was not
logged, and the event was sent again, and failed, on every run. Now each VMCATCHER_EVENT_* value
is cut to VALUE_CAP bytes ending with a visible marker, the whole argv + environment is fitted to
half of ARG_MAX, and a handler that still cannot be started is logged with its cause.

Each test runs the real vmcatcher_cache against a real signed list served on 127.0.0.1, with a
real shell handler that records the environment it got.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagelist.errors import EXIT_EVENTS_FAILED
from imagelist.events import TRUNCATION_MARKER, VALUE_CAP, environment_budget, environment_size
from tests.cache.support import CacheSite, build_cache_site, image_bytes
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.conftest import sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import Site

HUGE = 200 * 1024
DESCRIPTION_VARIABLE = "VMCATCHER_EVENT_DC_DESCRIPTION"


@pytest.fixture
def huge_site(
    sqlite_site: Site,  # noqa: F811
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
) -> CacheSite:
    """img-a subscribed; its list (signed, valid) carries a 200 KiB dc:description."""
    site = build_cache_site(sqlite_site, server, test_pki.good, tmp_path, {"img-a": 4096})
    description = ("A long description, signed by the endorser. " * 5000)[:HUGE]
    site.describe("img-a", image_bytes("img-a", 4096), description=description)
    site.publish("1.1")
    return site


def _image_events(site: CacheSite) -> list[dict[str, str]]:
    return [e for e in site.events() if e.get("VMCATCHER_EVENT_DC_IDENTIFIER") == "img-a"]


def test_a_huge_description_reaches_the_handler_cut_with_the_marker(huge_site: CacheSite) -> None:
    site = huge_site
    result = site.cache("-j", "1")
    assert result.code == 0, result.err
    assert result.out.startswith("1 downloaded, 0 expired, 0 failed")
    assert "Traceback" not in result.err
    events = _image_events(site)
    assert [e["VMCATCHER_EVENT_TYPE"] for e in events] == ["AvailablePrefix", "AvailablePostfix"]
    marker = TRUNCATION_MARKER.format(size=HUGE)
    for event in events:
        value = event[DESCRIPTION_VARIABLE]
        assert value.endswith(marker)
        assert len(value.encode()) <= VALUE_CAP
        assert site.images["img-a"].description.startswith(value[: -len(marker)])
    warnings = [line for line in result.err.splitlines() if DESCRIPTION_VARIABLE in line]
    assert warnings == [
        f"WARNING: event {kind} for img-a: {DESCRIPTION_VARIABLE} is {HUGE} bytes; cut to "
        f"{len(events[0][DESCRIPTION_VARIABLE].encode())} (the cap) and marked "
        "'...[truncated by imagelist: '"
        for kind in ("AvailablePrefix", "AvailablePostfix")
    ]
    # the cache holds the image and its full metadata; nothing waits to be sent again
    assert site.index()["img-a"]["dc:description"] == site.images["img-a"].description
    site.clear_log()
    again = site.cache("-j", "1")
    assert again.code == 0, again.err
    assert [e["VMCATCHER_EVENT_TYPE"] for e in site.events()] == ["ProcessPrefix", "ProcessPostfix"]
    assert not (site.cache_dir / ".vmcatcher_cache.outbox").exists()


def test_the_whole_environment_is_fitted_when_the_admins_is_large(huge_site: CacheSite) -> None:
    site = huge_site
    budget = environment_budget()
    # strings each below MAX_ARG_STRLEN that leave about 24 KiB of the budget to the event
    fill = budget - 24 * 1024 - environment_size(dict(os.environ))
    sizes = [100 * 1024] * (fill // (100 * 1024)) + [fill % (100 * 1024)]
    padding = {f"ADMIN_PAD_{n}": "p" * (size - 20) for n, size in enumerate(sizes)}
    result = site.cache("-j", "1", env=padding)
    assert result.code == 0, result.err
    marker = TRUNCATION_MARKER.format(size=HUGE)
    for event in _image_events(site):
        value = event[DESCRIPTION_VARIABLE]
        assert value.endswith(marker)
        assert len(value.encode()) < VALUE_CAP - 4096, "cut below the cap to fit the whole"
        assert site.images["img-a"].description.startswith(value[: -len(marker)])
    fitted = [line for line in result.err.splitlines() if "argv and environment take" in line]
    assert len(fitted) == 2
    assert fitted[1].startswith("WARNING: event AvailablePostfix for img-a: argv and environment")
    assert f"more than the {budget} allowed; {DESCRIPTION_VARIABLE} cut to " in fitted[1]


def test_a_handler_that_cannot_start_is_logged_with_its_cause_and_sent_again(
    huge_site: CacheSite,
) -> None:
    site = huge_site
    # the admin's own environment holds one string above MAX_ARG_STRLEN: execve fails (E2BIG)
    result = site.cache("-j", "1", env={"ADMIN_HUGE": "x" * HUGE})
    assert result.code == EXIT_EVENTS_FAILED, result.err
    assert "Traceback" not in result.err
    assert site.events() == [], "no handler ran"
    failures = [line for line in result.err.splitlines() if "cannot start" in line]
    assert len(failures) == 4, result.err  # ProcessPrefix, AvailablePrefix/Postfix, ProcessPostfix
    assert failures[1].startswith(
        f"ERROR: event AvailablePrefix for img-a failed: {site.handler}: cannot start /bin/sh: "
        "Argument list too long (argv and environment: "
    )
    assert "; 4 event(s) failed; 2 event(s) pending" in result.out
    assert site.index()["img-a"]["filename"] == "img-a", "the image itself is cached"

    # the next run, with a sane environment, sends the two image events again
    again = site.cache("-j", "1")
    assert again.code == 0, again.err
    assert [e["VMCATCHER_EVENT_TYPE"] for e in _image_events(site)] == [
        "AvailablePrefix",
        "AvailablePostfix",
    ]
    assert not (site.cache_dir / ".vmcatcher_cache.outbox").exists()
