"""The -U pipeline end to end: real HTTP server, real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import imagelist.verify as verify_module
from imagelist.db.subscriber import open_database
from imagelist.fetch import Fetcher, FetchLimits
from imagelist.subscriber import update as update_module
from imagelist.subscriber.decide import Outcome
from imagelist.subscriber.update import RunVerifier, Updater, exit_code
from imagelist.trust import TrustStore
from tests.httpserver import HttpServer, make_server_certificate, server_tls_context
from tests.pki import TestPki
from tests.subscriber.support import (
    Site,
    World,
    build_world,
    make_image,
    make_list,
    now,
    sign,
)


@pytest.fixture
def world(site: Site, server: HttpServer, test_pki: TestPki) -> World:
    return build_world(site, server, test_pki.good)


@pytest.fixture
def sqlite_world(sqlite_site: Site, server: HttpServer, test_pki: TestPki) -> World:
    return build_world(sqlite_site, server, test_pki.good)


def _states(site: Site) -> dict[str, int]:
    return {
        line.split("\t")[0]: int(line.split("\t")[1]) for line in site.image("-l").out.splitlines()
    }


def test_update_import_then_not_modified(world: World) -> None:
    assert _states(world.site) == {"img-a": 3, "img-b": 2}
    before = world.site.snapshot()
    result = world.update()
    assert result.code == 0
    assert result.out.endswith("\t0\tunchanged\tnot modified (version 1.0)\n")
    assert world.server.statuses(world.path)[-1] == 304
    assert world.site.snapshot() == before, "an unchanged list writes nothing"
    (etag,) = world.site.query("select http_etag from subscription")
    assert etag[0].startswith('"')


def test_changed_and_revoked_images(world: World) -> None:
    world.publish(
        world.make(version="1.1", images=(make_image("img-a", content=b"v2"), make_image("img-c")))
    )
    world.site.subscribe("--imagelist-newimage-accept", "-u", world.make().identifier)
    result = world.update()
    assert result.code == 0
    assert _states(world.site) == {"img-a": 3, "img-b": 0, "img-c": 2}
    info = world.site.image("-i", "-u", "img-a").out
    assert "image.sl:checksum:sha512=" + make_image("img-a", content=b"v2").sha512 in info
    (count,) = world.site.query('select count(*) from "imageListInstance"')
    assert count[0] == 2, "history is kept: 1.0 and 1.1"


def test_same_bytes_without_etag_support(sqlite_world: World) -> None:
    world = sqlite_world
    data = world.server.resolve(world.path).body  # the very bytes accepted before
    world.server.put(world.path, data)  # no ETag, no Last-Modified: a 200 every time
    result = world.update()
    assert result.code == 0
    assert "\tunchanged\tunchanged (version 1.0)" in result.out
    (validators,) = world.site.query("select http_etag, http_last_modified from subscription")
    assert validators == (None, None)
    world.server.put(world.path, data, last_modified="auto")
    world.update()
    assert world.site.query("select http_last_modified from subscription")[0][0] is not None
    assert world.update().code == 0
    assert world.server.statuses(world.path)[-1] == 304


def _updater(world: World, test_pki: TestPki, **options: object) -> Updater:
    store = TrustStore.load(test_pki.trust_dir)
    fetcher = Fetcher(store, limits=FetchLimits(read_timeout=2, max_time=5))
    return Updater(open_database(world.site.database), store, fetcher=fetcher, **options)  # type: ignore[arg-type]


def test_expired_list_is_enforced_d7(world: World, test_pki: TestPki) -> None:
    later = now() + timedelta(days=40)  # past the accepted list's dc:date:expires
    results = _updater(world, test_pki, now=later).run()
    assert [(r.outcome, r.exit_code) for r in results] == [(Outcome.EXPIRED, 34)]
    assert "its images are no longer available" in results[0].message
    assert _states(world.site) == {"img-a": 1, "img-b": 0}
    (expired,) = world.site.query('select expired from "imageListInstance"')
    assert expired[0] is not None
    before = world.site.snapshot()
    again = _updater(world, test_pki, now=later).run()
    assert again[0].exit_code == 34
    assert world.site.snapshot() == before
    info = world.site.subscribe("-i").out
    assert "imagelist.expired=True" in info
    assert "imagelist.vmcatcher.dc:date:expired=" in info


def test_expiry_is_enforced_when_the_server_is_down(sqlite_world: World, test_pki: TestPki) -> None:
    world = sqlite_world
    world.server.remove(world.path)
    results = _updater(world, test_pki, now=now() + timedelta(days=40)).run()
    assert results[0].exit_code == 10
    assert "HTTP 404" in results[0].message
    assert "no longer available" in results[0].message
    assert _states(world.site) == {"img-a": 1, "img-b": 0}


def test_a_renewed_list_makes_images_available_again(
    sqlite_world: World, test_pki: TestPki
) -> None:
    world = sqlite_world
    later = now() + timedelta(days=28, hours=1)  # the list has expired; the CRL is still current
    _updater(world, test_pki, now=later).run()
    assert _states(world.site) == {"img-a": 1, "img-b": 0}
    world.publish(world.make(version="1.1", created=later - timedelta(hours=1)))
    results = _updater(world, test_pki, now=later).run()
    assert results[0].exit_code == 0
    assert _states(world.site) == {"img-a": 3, "img-b": 2}


def test_one_failing_subscription_never_stops_the_others(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    site = sqlite_site
    site.register("e", test_pki.good)
    names = ["aaa-list", "bbb-list", "ccc-list"]
    for name in names:
        imagelist = make_list(
            test_pki.good,
            identifier=name,
            uri=server.url(f"/{name}"),
            images=[make_image(f"{name}-img")],
        )
        server.put(f"/{name}", sign(imagelist, test_pki.good), etag="auto")
        assert site.subscribe("-s", server.url(f"/{name}"), "--imagelist-newimage-accept").code == 0
    assert site.subscribe("-U").code == 0
    server.remove("/aaa-list")
    rollback = make_list(
        test_pki.good, identifier="ccc-list", version="0.1", uri=server.url("/ccc-list")
    )
    server.put("/ccc-list", sign(rollback, test_pki.good))
    changed = make_list(
        test_pki.good,
        identifier="bbb-list",
        version="2.0",
        uri=server.url("/bbb-list"),
        images=[make_image("bbb-list-img", content=b"v2")],
    )
    server.put("/bbb-list", sign(changed, test_pki.good))
    result = site.subscribe("-U")
    assert result.code == 17, "the last non-zero code"
    lines = [line.split("\t")[:3] for line in result.out.splitlines()]
    assert lines == [
        ["aaa-list", "10", "failed"],  # 404: no list was received, none was refused
        ["bbb-list", "0", "updated"],
        ["ccc-list", "17", "rejected"],
    ]
    quiet = site.subscribe("-U", "-q")
    assert [line.split("\t")[0] for line in quiet.out.splitlines()] == ["aaa-list", "ccc-list"]
    only = site.subscribe("-U", "-u", "bbb-list")
    assert only.code == 0
    assert [line.split("\t")[0] for line in only.out.splitlines()] == ["bbb-list"]


def test_a_database_failure_leaves_nothing_half_written(sqlite_world: World) -> None:
    world = sqlite_world
    engine = open_database(world.site.database)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TRIGGER boom BEFORE INSERT ON \"ImageInstance\" WHEN NEW.title = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
        )
    engine.dispose()
    world.publish(
        world.make(version="1.1", images=(make_image("img-a"), make_image("img-b", title="boom")))
    )
    result = world.assert_refused(36)
    assert f"database error on {world.site.database}: disk on fire; nothing written" in result.out


def test_new_image_events_after_commit(sqlite_world: World, tmp_path: Path) -> None:
    world = sqlite_world
    log = tmp_path / "events.jsonl"
    handler = (
        "python3 -c 'import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
        f'if k.startswith("VMCATCHER_")}}))\' >> {log}'
    )
    world.publish(
        world.make(version="1.1", images=(*world.images, make_image("img-new", comments="c")))
    )
    dry = world.update("--dry-run", "-x", handler)
    assert "\trefused\timg-new\t" in dry.out
    assert not log.exists(), "a dry run sends no event"
    result = world.update("-x", handler)
    assert result.code == 32, "refused by the default new-image mode"
    (event,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert event["VMCATCHER_EVENT_TYPE"] == "SubscriptionImageNew"
    assert event["VMCATCHER_EVENT_DC_IDENTIFIER"] == "img-new"
    assert event["VMCATCHER_EVENT_SL_COMMENTS"] == "c"
    assert set(event) == {
        "VMCATCHER_EVENT_TYPE",
        "VMCATCHER_EVENT_UUID_SESSION",
        "VMCATCHER_EVENT_DC_IDENTIFIER",
        "VMCATCHER_EVENT_DC_TITLE",
        "VMCATCHER_EVENT_DC_DESCRIPTION",
        "VMCATCHER_EVENT_HV_URI",
        "VMCATCHER_EVENT_HV_SIZE",
        "VMCATCHER_EVENT_HV_VERSION",
        "VMCATCHER_EVENT_HV_HYPERVISOR",
        "VMCATCHER_EVENT_SL_ARCH",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512",
        "VMCATCHER_EVENT_SL_COMMENTS",
        "VMCATCHER_EVENT_SL_OS",
        "VMCATCHER_EVENT_SL_OSVERSION",
    }


def test_events_from_the_environment_and_handler_failures(
    sqlite_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = sqlite_world
    marker = tmp_path / "ran"
    monkeypatch.setenv("VMCATCHER_SUB_EVENT", f"touch {marker}; exit 4")
    world.publish(world.make(version="1.1", images=(*world.images, make_image("img-new"))))
    world.site.subscribe("--imagelist-newimage-accept", "-u", world.make().identifier)
    assert marker.exists()
    results = world.update("-f", "json")
    assert results.code == 0, "a failing handler does not fail the update"
    (summary,) = json.loads(results.out)
    assert summary["outcome"] == "unchanged"


def test_follow_uri_moves_the_subscription(sqlite_world: World) -> None:
    world = sqlite_world
    new_path = "/new-home/image.list"
    moved = world.make(version="1.1", uri=world.server.url(new_path))
    world.publish(moved)
    world.server.put(
        new_path, sign(world.make(version="1.2", uri=world.server.url(new_path)), world.signer)
    )
    assert world.update().code == 18
    result = world.update("--follow-uri")
    assert result.code == 0
    assert f"now fetched from {world.server.url(new_path)}" in result.out
    assert world.update().code == 0
    assert world.server.hits(new_path) == 1
    listing = world.site.subscribe("-l").out
    assert listing.split("\t")[3].strip() == world.server.url(new_path)


def test_trust_reset_recovers_from_a_fast_forward(sqlite_world: World) -> None:
    world = sqlite_world
    world.publish(world.make(version="99.0"))
    assert world.update().code == 0
    world.publish(world.make(version="1.1"))
    assert world.update().code == 17
    identifier = world.make().identifier
    refused = world.site.subscribe("--reset-trust", "-u", identifier)
    assert refused.code == 1
    assert "needs confirmation" in refused.err
    typo = world.site.run("vmcatcher_subscribe", "--reset-trust", "-u", identifier, stdin="nope\n")
    assert typo.code == 1
    assert world.site.subscribe("--reset-trust", "-u", identifier, "--yes").code == 0
    result = world.update()
    assert result.code == 0
    assert "version 99.0 -> 1.1" in result.out
    world.publish(world.make(version="1.0"))
    assert world.update().code == 17, "the reset is good for one update only"


def test_same_version_option_restores_the_old_warning(sqlite_world: World) -> None:
    world = sqlite_world
    world.publish(world.make(version="1.0", description="changed"))
    assert world.update().code == 16
    result = world.update("--allow-same-version")
    assert result.code == 0


def test_image_id_of_another_subscription_is_a_conflict_d8(
    sqlite_world: World, test_pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    world = sqlite_world
    other = make_list(
        test_pki.good,
        identifier="other-list",
        uri=world.server.url("/other.list"),
        images=[make_image("img-a", content=b"hijack"), make_image("img-z")],
    )
    world.server.put("/other.list", sign(other, test_pki.good))
    subscribed = world.site.subscribe(
        "-s", world.server.url("/other.list"), "--imagelist-newimage-accept"
    )
    assert subscribed.code == 0
    assert "belongs to subscription" in caplog.text
    result = world.site.subscribe("-U")
    assert result.code == 15
    assert "other-list\t15\tupdated\tversion 1.0: 1 added, 1 conflict" in result.out
    info = world.site.image("-i", "-u", "img-a").out
    assert f"subscription.dc:identifier={world.make().identifier}" in info
    assert "image.sl:checksum:sha512=" + make_image("img-a").sha512 in info


def test_image_accept_and_refuse_reimport(sqlite_world: World) -> None:
    world = sqlite_world
    identifier = world.make().identifier
    world.publish(world.make(version="1.1", images=(*world.images, make_image("img-c"))))
    assert world.update().code == 32
    assert world.site.subscribe("--image-accept", "img-c", "-u", identifier).code == 0
    assert _states(world.site)["img-c"] == 0
    assert world.update().code == 0
    assert _states(world.site)["img-c"] == 2
    assert world.site.subscribe("--image-refuse", "img-b", "-u", identifier).code == 0
    assert "img-b" not in _states(world.site)
    already = world.site.subscribe("--image-refuse", "img-b", "-u", identifier)
    assert already.code == 1
    assert "already refuses" in already.err
    taken = world.site.subscribe("--image-accept", "img-a", "-u", identifier)
    assert taken.code == 1
    unpaired = world.site.subscribe("--image-accept", "x", "--image-accept", "y", "-u", identifier)
    assert unpaired.code == 1


def test_newimage_subscribe_mode_caches_new_images(sqlite_world: World) -> None:
    world = sqlite_world
    world.publish(world.make(version="1.1", images=(*world.images, make_image("img-c"))))
    result = world.site.subscribe("--imagelist-newimage-subscribe", "-u", world.make().identifier)
    assert result.code == 0
    assert _states(world.site)["img-c"] == 3


def test_basic_auth_and_https(site: Site, test_pki: TestPki, tmp_path: Path) -> None:
    cert, key = make_server_certificate(test_pki.intermediate)
    tls = server_tls_context(cert, key, test_pki.intermediate.cert_pem)
    with HttpServer(tls=tls) as secure:
        site.register("e", test_pki.good)
        imagelist = make_list(
            test_pki.good, uri=secure.url("/private.list"), images=[make_image("p")]
        )
        secure.put("/private.list", sign(imagelist, test_pki.good), auth=("token", "x-oauth-basic"))
        url = secure.url("/private.list").replace("://", "://token:x-oauth-basic@")
        assert site.subscribe("-s", url, "--imagelist-newimage-accept").code == 0
        listing = site.subscribe("-l").out
        assert "x-oauth-basic" not in listing
        assert secure.url("/private.list") in listing
        info = site.subscribe("-i").out
        assert "subscription.hv:uri.username=token" in info
        assert "subscription.hv:uri.password=********" in info
        assert site.subscribe("-U").code == 0
        assert site.subscribe("--uri-password-clear", "-u", imagelist.identifier).code == 0
        denied = site.subscribe("-U")
        assert denied.code == 10
        assert "HTTP 401" in denied.out
        assert (
            site.run(
                "vmcatcher_subscribe",
                "--uri-password-set",
                "-",
                "-u",
                imagelist.identifier,
                stdin="x-oauth-basic\n",
            ).code
            == 0
        )
        assert site.subscribe("-U").code == 0


def test_run_verifier_validates_each_signer_path_once(
    test_pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    original = verify_module.validate_signer

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_module, "validate_signer", counting)
    verifier = RunVerifier(TrustStore.load(test_pki.trust_dir))
    at = datetime.now(UTC)
    for version in ("1", "2", "3"):
        data = sign(make_list(test_pki.good, version=version), test_pki.good)
        assert verifier.verify(data, at=at).imagelist.version == version
    assert len(calls) == 1


def test_exit_code_is_the_last_non_zero() -> None:
    assert exit_code([]) == 0
    fake = [replace_result(code) for code in (0, 11, 0, 34, 0)]
    assert exit_code(fake) == 34


def replace_result(code: int) -> update_module.UpdateResult:
    from imagelist.subscriber.decide import Plan

    plan = Plan("s", Outcome.UNCHANGED, code, "m")
    return update_module.UpdateResult("s", "u", Outcome.UNCHANGED, code, "m", plan)


def test_updater_defaults(sqlite_world: World, test_pki: TestPki) -> None:
    updater = _updater(sqlite_world, test_pki)
    assert updater.now.tzinfo is UTC
    assert replace(updater.policy).follow_uri is False
    assert [r.exit_code for r in updater.run(["no-such-subscription"])] == []


def test_two_runs_at_once_never_import_twice(
    database_url: str, server: HttpServer, test_pki: TestPki
) -> None:
    world = build_world(Site(database_url, test_pki.trust_dir), server, test_pki.good)
    world.publish(world.make(version="1.1"))
    first, second = _updater(world, test_pki), _updater(world, test_pki)
    ((first_sub, first_state),) = first._load(None)
    ((second_sub, second_state),) = second._load(None)  # read before the first one writes
    assert first.update_one(first_sub, first_state).exit_code == 0
    late = second.update_one(second_sub, second_state)
    assert late.exit_code == 36
    assert "changed by another run" in late.message
    assert world.site.query('select count(*) from "imageListInstance"') == [(2,)]


def test_a_signed_payload_that_is_not_json_is_exit_38(sqlite_world: World) -> None:
    world = sqlite_world
    world.publish(sign(b'{"hv:imagelist": ', world.signer))
    result = world.assert_refused(38)
    assert "not valid JSON" in result.out


def test_an_endorser_with_several_dns_d9(sqlite_world: World, test_pki: TestPki) -> None:
    world = sqlite_world
    second = ("--dn", test_pki.direct.subject_oneline, "-I", test_pki.direct.issuer_oneline)
    assert world.site.endorser("-C", "-e", "endorser-1", *second).code == 0
    signed = make_list(test_pki.direct, version="1.1", images=world.images, uri=world.url)
    world.publish(signed, signer=test_pki.direct)
    assert world.update().code == 0


def test_an_unexpected_error_costs_one_subscription_only(
    sqlite_world: World, test_pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = sqlite_world
    world.publish(world.make(version="1.1"))
    updater = _updater(world, test_pki)

    def broken(data: bytes, *, at: object = None) -> None:
        raise RuntimeError("bug\nin a parser")

    monkeypatch.setattr(updater.verifier, "verify", broken)
    before = world.site.snapshot()
    (result,) = updater.run()
    assert result.exit_code == 70
    assert result.message == "internal error: RuntimeError: bug in a parser (run with -vv)"
    assert world.site.snapshot() == before
