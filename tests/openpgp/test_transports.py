"""The list and its two companions go out together through every transport (ADR 0021).

``local`` and ``scp`` copy all three first and rename them only when every copy succeeded;
``command`` and ``gsidcap`` publish them one by one, the list last. A failure never leaves the
new list published without its companions.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from imagelist.errors import UploadFailedError
from imagelist.publisher.transports import make_transport
from tests.publisher.conftest import sshd  # noqa: F401
from tests.publisher.support import SshServer
from tests.publisher.test_transports import _leftovers, _scp, _section

URI = "https://www.example.org/files/image.list"
NAMES = ("image.list.json", "image.list.json.asc", "image.list")


def _sources(tmp_path: Path, tag: bytes) -> list[tuple[Path, str]]:
    files = []
    for name in NAMES:
        source = tmp_path / f"src-{name}"
        source.write_bytes(tag + name.encode())
        source.chmod(0o600)
        files.append((source, URI.replace("image.list", name)))
    return files


def _published(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in NAMES if (directory / name).exists()}


def _check(directory: Path, tag: bytes) -> None:
    assert _published(directory) == {name: tag + name.encode() for name in NAMES}
    for name in NAMES:
        assert stat.S_IMODE((directory / name).stat().st_mode) & 0o044 == 0o044
    assert _leftovers(directory) == []


def test_local_publishes_all_or_nothing(tmp_path: Path) -> None:
    www = tmp_path / "www"
    (www / "files").mkdir(parents=True)
    transport = make_transport(_section("local", f"{www}/"), environ=os.environ)
    targets = transport.put_many(_sources(tmp_path, b"v1:"))
    assert targets == [str(www / "files" / name) for name in NAMES]
    _check(www / "files", b"v1:")
    # the list's copy cannot be made (its source vanished): nothing of version 2 is published
    files = _sources(tmp_path, b"v2:")
    files[-1][0].unlink()
    with pytest.raises(UploadFailedError):
        transport.put_many(files)
    _check(www / "files", b"v1:")


def test_command_and_gsidcap_publish_the_list_last(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    transport = make_transport(
        _section(
            "command",
            f"{tmp_path}/",
            command=("cp", "--", "{src}", "{dest}"),
            renameCommand=("mv", "-f", "--", "{src}", "{dest}"),
        ),
        environ=os.environ,
    )
    transport.put_many(_sources(tmp_path, b"v1:"))
    assert _published(tmp_path / "files") == {n: b"v1:" + n.encode() for n in NAMES}
    files = _sources(tmp_path, b"v2:")
    files[1][0].unlink()  # the signature cannot be copied: the list is not replaced
    with pytest.raises(UploadFailedError):
        transport.put_many(files)
    published = _published(tmp_path / "files")
    assert published["image.list"] == b"v1:image.list"
    assert published["image.list.json.asc"] == b"v1:image.list.json.asc"

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dccp = bin_dir / "dccp"
    dccp.write_text('#!/bin/sh\ncp "$6" "$7"\n')
    dccp.chmod(0o755)
    (tmp_path / "pnfs" / "files").mkdir(parents=True)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    gsidcap = make_transport(_section("gsidcap", f"{tmp_path}/pnfs/", pdcapPreload=""), env)
    gsidcap.put_many(_sources(tmp_path, b"v1:"))
    assert _published(tmp_path / "pnfs" / "files") == {n: b"v1:" + n.encode() for n in NAMES}


@pytest.mark.peer
def test_scp_copies_all_then_renames_in_one_command(sshd: SshServer, tmp_path: Path) -> None:  # noqa: F811
    files_dir = sshd.root / "files"
    files_dir.mkdir(exist_ok=True)
    for name in NAMES:
        (files_dir / name).unlink(missing_ok=True)
    targets = _scp(sshd).put_many(_sources(tmp_path, b"v1:"))
    assert len(targets) == 3
    _check(files_dir, b"v1:")
    # the list's rename is refused (a non-empty directory in its place): nothing is renamed
    blocked = sshd.root / "blocked"
    (blocked / "image.list").mkdir(parents=True, exist_ok=True)
    (blocked / "image.list" / "x").write_bytes(b"")
    files = [(src, uri.replace("/files/", "/blocked/")) for src, uri in _sources(tmp_path, b"v2:")]
    with pytest.raises(UploadFailedError, match="is a directory"):
        _scp(sshd).put_many(files)
    assert not (blocked / "image.list.json").exists()
    assert _leftovers(blocked) == []
