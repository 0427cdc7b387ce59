"""The marketplace's integrity check accepts digest-pinned oci:// images through our client."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imagelist.fetch import Fetcher
from imagelist.market.integrity import CheckResult, check_image
from tests.oci.registry import TestRegistry, push_image

REPO = "egi_vm_images/ubuntu"


def _check(registry: TestRegistry, uri: str, content: bytes) -> CheckResult:
    """The market's integrity check of ``uri``, which should hold ``content``."""
    with Fetcher(None) as fetcher:
        return check_image(
            fetcher,
            uri,
            len(content),
            hashlib.sha512(content).hexdigest(),
            access=registry.access(),
        )


def test_a_pinned_registry_image_checks_ok(registry: TestRegistry, disk: Path) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    content = disk.read_bytes()
    result = _check(registry, pushed.uri, content)
    assert result.ok, result.message
    assert result.bytes_read == len(content)


def test_a_corrupt_registry_blob_fails_the_check(registry: TestRegistry, disk: Path) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    content = disk.read_bytes()
    blob = registry.blob_path(pushed.layer.digest)
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    result = _check(registry, pushed.uri, content)
    assert not result.ok
    assert f"the registry's blob {pushed.layer.digest} is corrupt" in result.message


def test_a_tag_reference_fails_the_check(registry: TestRegistry, disk: Path) -> None:
    push_image(registry.client(), REPO, disk)
    content = disk.read_bytes()
    with Fetcher(None) as fetcher:
        result = check_image(
            fetcher,
            f"oci://{registry.host}/{REPO}:24.04",
            len(content),
            hashlib.sha512(content).hexdigest(),
            access=registry.access(),
        )
    assert not result.ok
    assert "is not pinned by digest" in result.message
