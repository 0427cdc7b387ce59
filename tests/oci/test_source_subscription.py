"""``vmcatcher_subscribe -U`` updates each cosign-key / none registry source as a subscription.

A real docker-registry; the images become rows like a HEPiX list's and go through
vmcatcher_cache; a failing source costs that source only, with its code, its rows unchanged.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from imagelist.oci.cosign import sign_manifest
from imagelist.oci.reference import parse_reference
from imagelist.subscriber.oci_sources import source_identifier
from tests.cache.support import CacheSite
from tests.httpserver import HttpServer
from tests.oci.registry import TestRegistry, push_image
from tests.oci.test_source import REPO, _keypair, _two_releases
from tests.pki import TestPki
from tests.subscriber.conftest import database_url  # noqa: F401 - the fixture
from tests.subscriber.support import LIST_ID, Site, World, build_world

pytestmark = pytest.mark.peer

SOURCE = source_identifier("egi")


def _config(tmp_path: Path, registry: TestRegistry, **keys: object) -> str:
    keys.setdefault("tag_pattern", "^[^-]*$")
    lines = [
        "[oci.sources.egi]",
        f'registry = "{registry.host}"',
        f'repositories = ["{REPO}"]',
        "plain_http = true",
        *(f"{key} = {json.dumps(value)}" for key, value in keys.items()),
    ]
    text = "\n".join(lines) + "\n"
    path = tmp_path / f"site-{hashlib.sha256(text.encode()).hexdigest()[:12]}.toml"
    path.write_text(text)
    return str(path)


def _rows(site: Site) -> dict[str, list[str]]:
    """``vmcatcher_image -l`` by image id: state, subscription and the rest."""
    return {line.split("\t")[0]: line.split("\t")[1:] for line in site.image("-l").out.splitlines()}


def _source_rows(site: Site) -> dict[str, list[str]]:
    return {k: v for k, v in _rows(site).items() if SOURCE in v}


def test_a_cosign_source_is_a_subscription_that_caches_and_expires_removed_images(
    registry: TestRegistry,
    tmp_path: Path,
    test_pki: TestPki,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _first, second, content = _two_releases(registry, tmp_path)
    private, public = _keypair(tmp_path)
    sign_manifest(registry.client(), parse_reference(second.uri), private)
    config = _config(tmp_path, registry, trust="cosign-key", public_key=str(public))
    site = Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)
    config = _config(
        tmp_path, registry, trust="cosign-key", public_key=str(public), new_images="subscribe"
    )
    result = site.subscribe("-U", "--config", config)
    assert result.code == 0, (result.out, result.err)
    assert SOURCE in site.subscribe("-l").out
    ((identifier, row),) = _source_rows(site).items()
    assert row[0] == "3"  # accepted and subscribed, as --imagelist-newimage-subscribe does
    info = json.loads(site.image("-i", "-u", identifier, "--format", "json").out)
    assert second.uri.split("@")[1] in json.dumps(info)
    # an unchanged digest is not read again: describing a layer would fail now
    monkeypatch.setattr("imagelist.oci.source.describe_image", _must_not_read)
    again = site.subscribe("-U", "--config", config)
    assert again.code == 0, again.err
    assert again.out.split("\t")[:3] == [SOURCE, "0", "unchanged"]  # same images: not rewritten
    with HttpServer() as server:
        (tmp_path / "cachesite").mkdir()
        cache_site = CacheSite(World(site, server, test_pki.good), tmp_path / "cachesite")
        env = {"IMAGELIST_OCI_PLAIN_HTTP": registry.host}
        cached = cache_site.cache(env=env)
        assert cached.code == 0, cached.err
        assert hashlib.sha512((cache_site.cache_dir / identifier).read_bytes()).hexdigest() == (
            hashlib.sha512(content).hexdigest()
        )
        # the tag leaves the source's pattern: the image leaves the list and expires at the site
        config = _config(
            tmp_path, registry, trust="cosign-key", public_key=str(public), tag_pattern="^none$"
        )
        assert site.subscribe("-U", "--config", config).code == 0
        cache_site.clear_log()
        expired = cache_site.cache(env=env)
    assert "1 expired" in expired.out, expired.out
    assert ("ExpirePostfix", identifier) in cache_site.event_types()
    assert not (cache_site.cache_dir / identifier).exists()


def test_new_images_are_refused_by_default_as_with_s(
    registry: TestRegistry, tmp_path: Path, test_pki: TestPki
) -> None:
    _first, second, _content = _two_releases(registry, tmp_path)
    private, public = _keypair(tmp_path)
    sign_manifest(registry.client(), parse_reference(second.uri), private)
    config = _config(tmp_path, registry, trust="cosign-key", public_key=str(public))
    site = Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)
    result = site.subscribe("-U", "--config", config)
    assert (result.code, result.out.split("\t")[:3]) == (32, [SOURCE, "32", "updated"])
    assert _source_rows(site) == {}
    # the subscription is an ordinary one: its new-image mode is set as any other's
    argv = ["--imagelist-newimage-subscribe", "-u", SOURCE, "--config", config]
    assert site.subscribe(*argv).code == 0
    ((_identifier, row),) = _source_rows(site).items()
    assert row[0] == "3"


def _must_not_read(*_args: object) -> object:
    raise AssertionError("the layer of an unchanged digest was read again")


def test_a_failing_source_costs_that_source_only_with_its_code(
    registry: TestRegistry,
    tmp_path: Path,
    test_pki: TestPki,
    database_url: str,  # noqa: F811 - the fixture: SQLite and PostgreSQL
) -> None:
    _first, second, _content = _two_releases(registry, tmp_path)
    private, public = _keypair(tmp_path)
    _other, wrong = _keypair(tmp_path, "wrong")
    sign_manifest(registry.client(), parse_reference(second.uri), private)
    good = _config(tmp_path, registry, trust="cosign-key", public_key=str(public))
    site = Site(database_url, test_pki.trust_dir)
    with HttpServer() as server:
        world = build_world(site, server, test_pki.good)  # a HEPiX subscription, first
        assert site.subscribe("-U", "--config", good).code == 32  # the source's image refused
        accepted = site.snapshot()
        source_info = site.subscribe("-i", "-u", SOURCE, "--format", "json").out
        # a wrong key: 67 for the source, nothing written
        bad = _config(tmp_path, registry, trust="cosign-key", public_key=str(wrong))
        result = site.subscribe("-U", "--config", bad)
        assert result.code == 67, (result.out, result.err)
        assert f"{SOURCE}\t67\tfailed\t" in result.out
        assert "Traceback" not in result.err
        assert site.snapshot() == accepted
        # a new tag without a .sig: 66 for the source; the HEPiX list is still updated
        spare = tmp_path / "unsigned.qcow2"
        spare.write_bytes(b"unsigned" * 1000)
        push_image(registry.client(), REPO, spare, ("25.04",))
        world.publish(world.make(version="1.1"))
        result = site.subscribe("-U", "--config", good)
        assert result.code == 66, (result.out, result.err)
        lines = dict(line.split("\t", 1) for line in result.out.splitlines())
        assert lines[SOURCE].startswith("66\tfailed\t")
        assert lines[LIST_ID].startswith("0\t")
    assert site.snapshot() != accepted  # the HEPiX list was updated ...
    assert site.subscribe("-i", "-u", SOURCE, "--format", "json").out == source_info  # not this


def test_trust_none_is_logged_on_every_run_and_can_become_cosign_key(
    registry: TestRegistry,
    tmp_path: Path,
    test_pki: TestPki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _first, second, _content = _two_releases(registry, tmp_path)
    config = _config(tmp_path, registry, trust="none", allow_unsigned=True, new_images="subscribe")
    site = Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)
    for _run in range(2):
        caplog.clear()
        result = site.subscribe("-U", "--config", config)
        assert result.code == 0, (result.out, result.err)
        assert any("are NOT verified" in record.getMessage() for record in caplog.records)
    assert len(_source_rows(site)) == 1
    # the admin moves the source to cosign-key: the same subscription, now verified
    private, public = _keypair(tmp_path)
    sign_manifest(registry.client(), parse_reference(second.uri), private)
    config = _config(tmp_path, registry, trust="cosign-key", public_key=str(public))
    result = site.subscribe("-U", "--config", config)
    assert result.code == 0, (result.out, result.err)
    assert len(_source_rows(site)) == 1


def test_a_source_gone_from_the_site_file_fails_its_subscription_with_78(
    registry: TestRegistry, tmp_path: Path, test_pki: TestPki
) -> None:
    _two_releases(registry, tmp_path)
    config = _config(tmp_path, registry, trust="none", allow_unsigned=True)
    site = Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)
    assert site.subscribe("-U", "--config", config).code == 32
    before = site.snapshot()
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = site.subscribe("-U", "--config", str(empty))
    assert result.code == 78, (result.out, result.err)
    (line,) = result.out.splitlines()
    assert line.startswith(f"{SOURCE}\t78\t")
    assert "\tregistry source 'egi' is no longer in the site file" in line
    assert site.snapshot() == before
    assert site.subscribe("-D", "-u", SOURCE).code == 0
    assert site.subscribe("-U", "--config", str(empty)).code == 0
