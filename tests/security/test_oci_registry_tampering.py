"""A registry that lies about a digest-pinned oci:// image changes nothing (SQLite and PostgreSQL).

The signed list names the image ``oci://HOST/REPO@sha256:DIGEST``; the attacker controls the
registry's storage (a swapped manifest, a corrupted layer) or its tags. ``vmcatcher_cache``
exits 40 (an image failed) with one line naming the problem; nothing reaches ``cache/`` or
``partial/``, and no database row changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagelist.errors import EXIT_IMAGES_FAILED
from tests.httpserver import HttpServer
from tests.oci.conftest import disk, registry  # noqa: F401 - fixtures
from tests.oci.registry import TestRegistry, push_image
from tests.oci.support import OciSite, build_oci_site, cached_files
from tests.pki import TestPki
from tests.subscriber.support import Site

REPO = "egi_vm_images/ubuntu"


@pytest.fixture
def oci_site(
    site: Site,
    server: HttpServer,
    test_pki: TestPki,
    tmp_path: Path,
    registry: TestRegistry,  # noqa: F811
    disk: Path,  # noqa: F811
) -> OciSite:
    pushed = push_image(registry.client(), REPO, disk, ("24.04",))
    built = build_oci_site(
        site, server, test_pki.good, tmp_path, registry, {"ubuntu": (pushed, disk.read_bytes())}
    )
    built.pushed = pushed  # type: ignore[attr-defined]
    return built


def _refused(oci_site: OciSite, expected: str) -> None:
    before = oci_site.site.snapshot()
    result = oci_site.oci_cache()
    assert result.code == EXIT_IMAGES_FAILED, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, result.err
    assert expected in errors[0]
    assert "Traceback" not in result.err
    assert cached_files(oci_site) == {}
    assert oci_site.site.snapshot() == before


def test_a_manifest_swapped_in_the_registry_storage(oci_site: OciSite) -> None:
    pushed = oci_site.pushed  # type: ignore[attr-defined]
    stored = oci_site.registry.blob_path(pushed.digest)
    document = json.loads(stored.read_bytes())
    document["annotations"]["org.opencontainers.image.revision"] = "evil"
    stored.write_bytes(json.dumps(document).encode())
    _refused(oci_site, "served bytes hashing to sha256:")


def test_a_layer_corrupted_in_the_registry_storage(oci_site: OciSite) -> None:
    pushed = oci_site.pushed  # type: ignore[attr-defined]
    blob = oci_site.registry.blob_path(pushed.layer.digest)
    blob.write_bytes(b"\0" * 16 + blob.read_bytes()[16:])
    _refused(oci_site, f"the registry's blob {pushed.layer.digest} is corrupt")


def test_a_registry_that_is_down(oci_site: OciSite) -> None:
    oci_site.registry.stop()
    _refused(oci_site, "is unreachable")
