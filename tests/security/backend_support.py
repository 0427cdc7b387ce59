"""Helpers of the backend attack tests: run a backend command as vmcatcher_cache does, and
snapshot what an attack must not change (the cache directory, the cloud's images)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import openstack
import pytest

from imagelist.cli import imagelist_glance, imagelist_opennebula
from tests.fakes.oned import FakeImage, FakeOned

Main = Callable[[Sequence[str] | None], int]


def run_backend(
    main: Main,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: Mapping[str, str],
    *args: str,
) -> tuple[int, str, str]:
    """Run a backend command with the event ``env`` in the environment: (code, out, err)."""
    with monkeypatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("VMCATCHER_"):
                patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_glance(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: Mapping[str, str],
    config: Path,
) -> tuple[int, str, str]:
    return run_backend(imagelist_glance.main, monkeypatch, capsys, env, "--config", str(config))


def run_opennebula(
    oned: FakeOned,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: Mapping[str, str],
    *,
    session: str = "oneadmin:opennebula",
    config: str = "",
) -> tuple[int, str, str]:
    """``imagelist-opennebula`` against the fake oned, logged in as ``session``."""
    auth = tmp_path / "one_auth"
    auth.write_text(session + "\n")
    path = tmp_path / "opennebula.toml"
    path.write_text(f'poll_interval = 0.01\nconversion_dir = "{tmp_path}/conv"\n{config}')
    monkeypatch.setenv("ONE_XMLRPC", oned.endpoint)
    monkeypatch.setenv("ONE_AUTH", str(auth))
    main = imagelist_opennebula.main
    return run_backend(main, monkeypatch, capsys, env, "--config", str(path))


def tree(directory: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry under ``directory``: its kind and (files, links) content."""
    found: dict[str, tuple[str, bytes]] = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if path.is_symlink():
            found[name] = ("link", os.readlink(path).encode())
        elif path.is_file():
            found[name] = ("file", path.read_bytes())
        else:
            found[name] = ("other", b"")
    return found


def oned_snapshot(oned: FakeOned) -> dict[int, FakeImage]:
    """A deep copy of every image of the fake oned."""
    with oned.lock:
        return copy.deepcopy(oned.images)


def glance_images(cloud: str) -> list[Any]:
    """Every image ``cloud``'s project sees (hidden ones too)."""
    connection = openstack.connect(cloud=cloud)
    found = {}
    for hidden in (False, True):
        for image in connection.image.images(is_hidden=hidden):
            found[image.id] = image
    return list(found.values())


def glance_state(image_id: str, cloud: str = "intruder") -> dict[str, Any]:
    """What an attack must not change of a Glance image, as its owner sees it."""
    connection = openstack.connect(cloud=cloud)
    image = connection.image.get_image(image_id)
    members = sorted((m.member_id, m.status) for m in connection.image.members(image))
    return {
        "owner": image.owner,
        "status": image.status,
        "visibility": image.visibility,
        "hidden": image.is_hidden,
        "tags": sorted(image.tags or []),
        "properties": dict(image.properties or {}),
        "name": image.name,
        "members": members,
    }


def one_line(err: str, prog: str) -> str:
    """The single error line a command wrote (asserting there is exactly one)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), err
    return lines[0]
