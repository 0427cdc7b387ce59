"""``vmcaster --register-oci-image``: an image already in a registry, pinned in the database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from imagelist.cli.vmcaster import main
from imagelist.db.publisher import open_database
from imagelist.publisher.store import PublisherStore
from tests.oci.registry import TestRegistry, push_image

REPO = "egi_vm_images/ubuntu"
LIST = "5e8a7b1c-0d2f-4a6b-9c3e-1f2a3b4c5d6e"
IMAGE = "c0ffee00-0000-4000-8000-000000000002"


@pytest.fixture
def database(tmp_path: Path, registry: TestRegistry, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'vmcaster.db'}"
    monkeypatch.setenv("VMCASTER_RDBMS", url)
    monkeypatch.setenv("IMAGELIST_OCI_PLAIN_HTTP", registry.host)
    assert main(["--select-imagelist", LIST, "--add-imagelist"]) == 0
    assert main(["--select-image", IMAGE, "--add-image"]) == 0
    assert main(["--select-imagelist", LIST, "--imagelist-add-image", "--select-image", IMAGE]) == 0
    return url


def _keys(url: str) -> dict[str, str]:
    engine = open_database(url)
    try:
        return PublisherStore(engine).keys("image", IMAGE)
    finally:
        engine.dispose()


def test_register_pins_the_tag_and_records_size_and_sha512(
    database: str, registry: TestRegistry, disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = push_image(registry.client(), REPO, disk, ("24.04",))
    capsys.readouterr()
    code = main(["--select-image", IMAGE, "--register-oci-image", f"{registry.host}/{REPO}:24.04"])
    assert code == 0
    assert capsys.readouterr().out == f"{IMAGE}\t{pushed.uri}\tversion 0.0.1\n"
    keys = _keys(database)
    assert keys["hv:uri"] == pushed.uri
    assert keys["sl:checksum:sha512"] == hashlib.sha512(disk.read_bytes()).hexdigest()


def test_a_swapped_manifest_is_59_and_the_database_unchanged(
    database: str, registry: TestRegistry, disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    stored = registry.blob_path(pushed.digest)
    stored.write_bytes(stored.read_bytes().replace(b"24.04", b"99.99"))
    before = _keys(database)
    capsys.readouterr()
    assert main(["--select-image", IMAGE, "--register-oci-image", pushed.uri]) == 59
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("vmcaster: error: ")
    assert "served bytes hashing to" in err[0]
    assert _keys(database) == before
