"""Attack: the cached file is not the list's image (issue 17.2).

Whoever can put something at ``cache/<id>`` (a symlink to another file, a FIFO, a directory,
other bytes, a file of another size) must not get it uploaded, converted or published. The
backend opens the file without following links, checks it is a regular file, and checks its
size and SHA-512 against the event before anything is uploaded or converted: exit 55, one line,
nothing in the cloud, the cache as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backends.glance_server import GlanceServer
from tests.backends.support import Cache, available
from tests.fakes.oned import FakeOned
from tests.security.backend_support import (
    glance_images,
    one_line,
    run_glance,
    run_opennebula,
    tree,
)

ID = "c0ffee00-1111-4222-8333-444455556666"


def symlink_to_the_real_bytes(cache: Cache, identifier: str, elsewhere: Path) -> str:
    """``cache/<id>`` is a link to a file outside the cache holding the listed bytes."""
    digest = cache.disk(identifier, "raw")
    shutil.move(cache.path / identifier, elsewhere)
    (cache.path / identifier).symlink_to(elsewhere)
    return digest


def other_bytes(cache: Cache, identifier: str, elsewhere: Path) -> str:
    """``cache/<id>`` holds another image of the same size as the list's."""
    digest = cache.disk(identifier, "raw", seed=1)
    cache.disk(identifier, "raw", seed=2)
    return digest


def a_fifo(cache: Cache, identifier: str, elsewhere: Path) -> str:
    os.mkfifo(cache.path / identifier)
    return "ab" * 64


def a_directory(cache: Cache, identifier: str, elsewhere: Path) -> str:
    (cache.path / identifier).mkdir()
    return "ab" * 64


ATTACKS: dict[str, tuple[Callable[[Cache, str, Path], str], str]] = {
    "symlink": (symlink_to_the_real_bytes, "is a symbolic link"),
    "other-bytes": (other_bytes, "does not have the list's SHA-512"),
    "fifo": (a_fifo, "is not a regular file"),
    "directory": (a_directory, "is not a regular file"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_opennebula_refuses_a_cached_file_that_is_not_the_image(
    attack: str,
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, message = ATTACKS[attack]
    digest = make(cache, ID, tmp_path / "elsewhere.img")
    env = available(cache, ID, digest, VMCATCHER_EVENT_HV_SIZE=str(2 * 1024 * 1024))
    before = tree(cache.path)
    code, _, err = run_opennebula(
        oned, tmp_path, monkeypatch, capsys, env, config='disk_formats = ["raw"]\n'
    )
    assert code == 55, err
    assert message in one_line(err, "imagelist-opennebula")
    assert oned.images == {}
    assert not any(name == "one.image.allocate" for name, _ in oned.calls)
    assert tree(cache.path) == before
    assert not (tmp_path / "conv").exists() or not any((tmp_path / "conv").iterdir())


def test_opennebula_refuses_a_cached_file_of_another_size(
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = cache.disk(ID)
    size = (cache.path / ID).stat().st_size
    env = available(cache, ID, digest, VMCATCHER_EVENT_HV_SIZE=str(size - 1))
    before = tree(cache.path)
    code, _, err = run_opennebula(oned, tmp_path, monkeypatch, capsys, env)
    assert code == 55, err
    assert f"has {size} bytes, the list says {size - 1}" in one_line(err, "imagelist-opennebula")
    assert oned.images == {}
    assert tree(cache.path) == before


@pytest.mark.peer
@pytest.mark.parametrize("attack", ["symlink", "other-bytes"])
def test_glance_refuses_a_cached_file_that_is_not_the_image(
    attack: str,
    glance: GlanceServer,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    identifier = str(uuid.uuid4())
    make, message = ATTACKS[attack]
    digest = make(cache, identifier, tmp_path / "elsewhere.img")
    env = available(cache, identifier, digest, VMCATCHER_EVENT_HV_SIZE=str(2 * 1024 * 1024))
    config = tmp_path / "glance.toml"
    config.write_text(
        f'cloud = "imagelist-test"\nproject_id = "ops"\nconversion_dir = "{tmp_path}/conv"\n'
    )
    images_before = {str(i.id) for i in glance_images("imagelist-test")}
    before = tree(cache.path)
    code, _, err = run_glance(monkeypatch, capsys, env, config)
    assert code == 55, err
    assert message in one_line(err, "imagelist-glance")
    assert {str(i.id) for i in glance_images("imagelist-test")} == images_before
    assert tree(cache.path) == before
