"""vmcatcher_cache fetches digest-pinned oci:// images from a real registry, verified twice.

The signed list keeps the trust; the registry is an untrusted mirror. Each attack or failure
ends with vmcatcher_cache's "an image failed" exit (40), one line naming the problem, and
nothing unverified in cache/ or partial/.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest

from imagelist.cache.download import Downloader, DownloadJob
from imagelist.errors import EXIT_IMAGES_FAILED
from imagelist.fetch import Fetcher
from imagelist.oci.blobs import RegistryBlobs
from imagelist.oci.push import push_blob
from tests.httpserver import HttpServer
from tests.oci.registry import Pushed, TestRegistry, push_image
from tests.oci.support import OciSite, build_oci_site, cached_files
from tests.pki import TestPki
from tests.subscriber.support import Site, now

REPO = "egi_vm_images/ubuntu"


@pytest.fixture
def server() -> HttpServer:
    with HttpServer() as running:
        yield running  # type: ignore[misc]


@pytest.fixture
def site(tmp_path: Path, test_pki: TestPki) -> Site:
    return Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("ERROR:")]


def _pushed_site(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
    **options: object,
) -> tuple[OciSite, Pushed]:
    pushed = push_image(registry.client(), REPO, disk, ("24.04", "24.04-2025-10-07"), **options)  # type: ignore[arg-type]
    oci = build_oci_site(
        site, server, test_pki.good, tmp_path, registry, {"ubuntu": (pushed, disk.read_bytes())}
    )
    return oci, pushed


def test_a_signed_list_of_a_pinned_image_caches_it(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    oci, _pushed = _pushed_site(site, server, test_pki, tmp_path, registry, disk)
    result = oci.oci_cache()
    assert result.code == 0, result.err
    assert cached_files(oci) == {"ubuntu": hashlib.sha512(disk.read_bytes()).hexdigest()}
    assert ("AvailablePostfix", "ubuntu") in oci.event_types()


def test_a_moved_tag_changes_nothing(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    oci, pushed = _pushed_site(site, server, test_pki, tmp_path, registry, disk)
    other = tmp_path / "other.qcow2"
    other.write_bytes(b"a different image" * 1000)
    moved = push_image(registry.client(), REPO, other, ("24.04",))
    assert registry.client().head_manifest(REPO, "24.04") == moved.digest != pushed.digest
    result = oci.oci_cache()
    assert result.code == 0, result.err
    assert cached_files(oci) == {"ubuntu": hashlib.sha512(disk.read_bytes()).hexdigest()}


def test_a_manifest_that_does_not_hash_to_its_digest_is_refused(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    oci, pushed = _pushed_site(site, server, test_pki, tmp_path, registry, disk)
    # the registry's stored manifest is swapped for one naming another layer, same digest path
    stored = registry.blob_path(pushed.digest)
    document = json.loads(stored.read_bytes())
    evil = push_blob(registry.client(), REPO, b"evil disk", "application/x-qemu-disk")
    document["layers"][0].update(digest=evil.digest, size=evil.size)
    stored.write_bytes(json.dumps(document).encode())
    result = oci.oci_cache()
    assert result.code == EXIT_IMAGES_FAILED
    (line,) = _error_lines(result.err)
    assert "served bytes hashing to sha256:" in line
    assert f"for manifest {REPO}@{pushed.digest}" in line
    assert cached_files(oci) == {}


def test_a_corrupted_blob_in_the_registry_storage_is_refused(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    oci, pushed = _pushed_site(site, server, test_pki, tmp_path, registry, disk)
    blob = registry.blob_path(pushed.layer.digest)
    data = bytearray(blob.read_bytes())
    data[1000:1004] = b"\0\0\0\0"
    blob.write_bytes(bytes(data))
    result = oci.oci_cache()
    assert result.code == EXIT_IMAGES_FAILED
    (line,) = _error_lines(result.err)
    assert f"the registry's blob {pushed.layer.digest} is corrupt" in line
    assert cached_files(oci) == {}


def test_an_ambiguous_manifest_is_refused(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    second = push_blob(registry.client(), REPO, b"second disk", "application/x-qemu-disk")
    oci, _pushed = _pushed_site(
        site, server, test_pki, tmp_path, registry, disk, extra_layers=[second]
    )
    result = oci.oci_cache()
    assert result.code == EXIT_IMAGES_FAILED
    (line,) = _error_lines(result.err)
    assert "has 2 disk layers; which one is the image is ambiguous" in line
    assert cached_files(oci) == {}


def test_a_layer_size_other_than_hv_size_is_refused(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    content = disk.read_bytes() + b"x"
    oci = build_oci_site(
        site, server, test_pki.good, tmp_path, registry, {"ubuntu": (pushed, content)}
    )
    result = oci.oci_cache()
    assert result.code == EXIT_IMAGES_FAILED
    (line,) = _error_lines(result.err)
    assert f"the list says {len(content)} (hv:size)" in line
    assert cached_files(oci) == {}


def test_a_reference_by_tag_is_refused(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    oci = build_oci_site(site, server, test_pki.good, tmp_path, registry, {})
    oci.describe_pushed(
        "ubuntu", pushed, disk.read_bytes(), uri=f"oci://{registry.host}/{REPO}:24.04"
    )
    oci.publish("1.1")
    assert site.image("-a", "-u", "ubuntu").code == 0
    result = oci.oci_cache()
    assert result.code == EXIT_IMAGES_FAILED
    (line,) = _error_lines(result.err)
    assert "is not pinned by digest (@sha256:...); a tag proves nothing" in line
    assert cached_files(oci) == {}


def test_a_registry_that_is_down_is_reported_and_expires_nothing(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    oci, _pushed = _pushed_site(site, server, test_pki, tmp_path, registry, disk)
    assert oci.oci_cache().code == 0
    before = cached_files(oci)
    other = tmp_path / "alma.qcow2"
    other.write_bytes(b"alma" * 5000)
    alma = push_image(registry.client(), "egi_vm_images/alma", other, ("9",))
    oci.describe_pushed("alma", alma, other.read_bytes())
    oci.publish("1.1")
    assert site.image("-a", "-u", "alma").code == 0
    registry.stop()
    result = oci.oci_cache()
    assert result.code == EXIT_IMAGES_FAILED
    (line,) = _error_lines(result.err)
    assert line.startswith("ERROR: alma: ")
    assert f"{registry.host} is unreachable" in line
    assert cached_files(oci) == before
    expired = oci.cache_dir / "expired"
    assert [p.name for p in expired.iterdir() if p.name != "cache.index"] == []
    assert oci.index("expired") == {}


def test_tls_and_htpasswd_registry_with_credentials_caches(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    tls_registry: TestRegistry,
    disk: Path,
) -> None:
    oci, _pushed = _pushed_site(site, server, test_pki, tmp_path, tls_registry, disk)
    result = oci.oci_cache()
    assert result.code == 0, result.err
    assert cached_files(oci) == {"ubuntu": hashlib.sha512(disk.read_bytes()).hexdigest()}


def test_401_without_credentials_is_reported(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    tls_registry: TestRegistry,
    disk: Path,
) -> None:
    oci, _pushed = _pushed_site(site, server, test_pki, tmp_path, tls_registry, disk)
    result = oci.oci_cache(credentials=False)
    assert result.code == EXIT_IMAGES_FAILED
    (line,) = _error_lines(result.err)
    assert line.endswith(
        f"{tls_registry.host} asks for credentials (HTTP 401) and the OCI credentials file has "
        "none for it"
    )
    assert cached_files(oci) == {}


def test_a_partial_layer_is_resumed_with_range_and_both_hashes_cover_it_all(
    tmp_path: Path, registry: TestRegistry, disk: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    content = disk.read_bytes()
    target = tmp_path / "partial" / "ubuntu"
    target.parent.mkdir()
    target.write_bytes(content[:100_000])
    job = DownloadJob(
        "ubuntu", pushed.uri, len(content), hashlib.sha512(content).hexdigest(), target
    )
    downloader = Downloader(Fetcher(None), registry=RegistryBlobs(registry.access()))
    try:
        result = downloader.download(job)
    finally:
        downloader.close()
    assert result.ok, result.error
    assert (result.resumed_from, result.received) == (100_000, len(content) - 100_000)
    assert target.read_bytes() == content


def test_a_resumed_prefix_that_is_not_the_layer_is_fetched_again_whole(
    tmp_path: Path, registry: TestRegistry, disk: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    content = disk.read_bytes()
    target = tmp_path / "ubuntu"
    target.write_bytes(b"\0" * 100_000)
    job = DownloadJob(
        "ubuntu", pushed.uri, len(content), hashlib.sha512(content).hexdigest(), target
    )
    downloader = Downloader(Fetcher(None), registry=RegistryBlobs(registry.access()))
    try:
        result = downloader.download(job)
    finally:
        downloader.close()
    assert result.ok, result.error
    assert result.received == len(content) + len(content) - 100_000
    assert target.read_bytes() == content


def test_an_expired_list_of_a_pinned_image_brings_nothing_from_the_registry(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,
    disk: Path,
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    oci = build_oci_site(site, server, test_pki.good, tmp_path, registry, {})
    oci.describe_pushed("ubuntu", pushed, disk.read_bytes())
    created = now() - timedelta(days=60)
    oci.publish("1.1", created=created, expires=created + timedelta(days=28), update=False)
    before = site.snapshot()
    refused = oci.world.update()
    assert refused.code == 34, refused.out
    assert "expired" in refused.out
    assert site.snapshot() == before
    result = oci.oci_cache()
    assert result.code == 0, result.err
    assert cached_files(oci) == {}
