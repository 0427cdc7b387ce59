"""vmcaster's library: an image of the publisher database pointed at a registry image by digest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelist.db.publisher import open_database
from imagelist.errors import ImageNotListedError, OciBlobError
from imagelist.oci.publish import register_registry_image
from imagelist.publisher.store import PublisherStore
from tests.oci.registry import TestRegistry, push_image

REPO = "egi_vm_images/ubuntu"
IMAGE = "c0ffee00-0000-4000-8000-000000000001"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PublisherStore]:
    engine = open_database(f"sqlite:///{tmp_path / 'vmcaster.db'}")
    store = PublisherStore(engine)
    store.add("imagelist", "list-1")
    store.add("image", IMAGE)
    store.link("image", "list-1", IMAGE)
    store.set_keys("image", IMAGE, {"sl:arch": "aarch64", "hv:version": "1"})
    yield store
    engine.dispose()


def test_a_tag_is_recorded_pinned_with_size_and_sha512_and_a_new_version(
    store: PublisherStore, registry: TestRegistry, disk: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk, ("24.04",))
    done = register_registry_image(store, IMAGE, f"{registry.host}/{REPO}:24.04", registry.access())
    keys = store.keys("image", IMAGE)
    content = disk.read_bytes()
    assert keys["hv:uri"] == pushed.uri
    assert keys["hv:size"] == str(len(content))
    assert keys["sl:checksum:sha512"] == hashlib.sha512(content).hexdigest()
    assert keys["oci:layer-digest"] == pushed.layer.digest
    assert keys["hv:version"] == done.version == "2"
    assert keys["sl:arch"] == "aarch64"  # what the endorser set stays
    assert keys["sl:osversion"] == "24.04"  # what was missing comes from the annotations
    again = register_registry_image(store, IMAGE, pushed.uri, registry.access())
    assert again.unchanged
    assert store.keys("image", IMAGE)["hv:version"] == "2"


def test_a_corrupt_blob_records_nothing(
    store: PublisherStore, registry: TestRegistry, disk: Path
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    blob = registry.blob_path(pushed.layer.digest)
    blob.write_bytes(b"X" + blob.read_bytes()[1:])
    before = store.keys("image", IMAGE)
    with pytest.raises(OciBlobError, match="is corrupt"):
        register_registry_image(store, IMAGE, pushed.uri, registry.access())
    assert store.keys("image", IMAGE) == before


def test_an_image_in_no_list_is_refused(
    store: PublisherStore, registry: TestRegistry, disk: Path
) -> None:
    store.add("image", "lonely")
    pushed = push_image(registry.client(), REPO, disk)
    with pytest.raises(ImageNotListedError):
        register_registry_image(store, "lonely", pushed.uri, registry.access())
