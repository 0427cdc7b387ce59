"""Transports against real peers: a local directory, OpenSSH (sshd fixture), cp/mv commands.

``gsidcap`` has no peer here (no dCache): only its "dccp missing" error and its argument
vectors (through a stand-in ``dccp`` script) are tested.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from imagelist.errors import PublishConfigError, UploadFailedError
from imagelist.publisher import transports
from imagelist.publisher.config import ServerSection
from imagelist.publisher.transports import SSH_CONFIG_ENV, make_transport
from tests.publisher.support import SSH_HOST_ALIAS, SshServer

URI = "https://www.example.org/files/image.list"


def _section(protocol: str, replace: str, **options: object) -> ServerSection:
    import re

    return ServerSection(
        name="www",
        server="www.example.org",
        protocol=protocol,
        uri_match=re.compile("https://www.example.org/"),
        uri_replace=replace,
        options=options,
        source="vmcaster.cfg",
    )


def _leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if ".tmp-" in path.name)


# --- local ----------------------------------------------------------------------------------------


def test_local_put_replaces_atomically_and_publishes_readable(tmp_path: Path) -> None:
    www = tmp_path / "www"
    (www / "files").mkdir(parents=True)
    (www / "files" / "image.list").write_bytes(b"old")
    source = tmp_path / "new"
    source.write_bytes(b"new content")
    source.chmod(0o600)
    transport = make_transport(_section("local", f"{www}/"), environ=os.environ)
    assert transport.put(source, URI) == str(www / "files" / "image.list")
    published = www / "files" / "image.list"
    assert published.read_bytes() == b"new content"
    assert stat.S_IMODE(published.stat().st_mode) == 0o644
    assert _leftovers(www / "files") == []


def test_local_file_uri_prefix(tmp_path: Path) -> None:
    source = tmp_path / "new"
    source.write_bytes(b"x")
    transport = make_transport(_section("local", f"file://{tmp_path}/"), environ=os.environ)
    transport.put(source, "https://www.example.org/out")
    assert (tmp_path / "out").read_bytes() == b"x"


def test_local_stage_discard_leaves_the_target(tmp_path: Path) -> None:
    (tmp_path / "image.list").write_bytes(b"old")
    source = tmp_path / "src"
    source.write_bytes(b"new")
    transport = make_transport(_section("local", f"{tmp_path}/"), environ=os.environ)
    staged = transport.stage(source, "https://www.example.org/image.list")
    assert staged.digest.size == 3
    staged.discard()
    assert (tmp_path / "image.list").read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_local_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"new")
    transport = make_transport(_section("local", f"{tmp_path}/missing/"), environ=os.environ)
    with pytest.raises(UploadFailedError, match="cannot create a file beside") as info:
        transport.put(source, URI)
    assert info.value.exit_code == 77


def test_local_failure_during_copy_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "image.list").write_bytes(b"old")
    source = tmp_path / "src"
    source.write_bytes(b"new")

    def disk_full(src: Path, fd: int, progress: object = None) -> object:
        os.write(fd, b"ne")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transports, "copy_hashing", disk_full)
    transport = make_transport(_section("local", f"{tmp_path}/"), environ=os.environ)
    with pytest.raises(UploadFailedError, match="No space left on device"):
        transport.put(source, "https://www.example.org/image.list")
    assert (tmp_path / "image.list").read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_local_interrupted_copy_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"new")

    def interrupted(src: Path, fd: int, progress: object = None) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(transports, "copy_hashing", interrupted)
    transport = make_transport(_section("local", f"{tmp_path}/"), environ=os.environ)
    with pytest.raises(KeyboardInterrupt):
        transport.put(source, "https://www.example.org/image.list")
    assert _leftovers(tmp_path) == []


def test_local_rename_failure(tmp_path: Path) -> None:
    (tmp_path / "image.list").mkdir()  # a directory cannot be replaced by a file
    (tmp_path / "image.list" / "x").write_bytes(b"")
    source = tmp_path / "src"
    source.write_bytes(b"new")
    transport = make_transport(_section("local", f"{tmp_path}/"), environ=os.environ)
    with pytest.raises(UploadFailedError, match="cannot rename"):
        transport.put(source, "https://www.example.org/image.list")
    assert _leftovers(tmp_path) == []


def test_stream_only_for_local(tmp_path: Path) -> None:
    transport = make_transport(
        _section("command", "/x/", command=("cp", "{src}", "{dest}")), environ=os.environ
    )
    assert not transport.streams
    with pytest.raises(NotImplementedError):
        transport.stage(tmp_path, URI)


# --- scp against OpenSSH --------------------------------------------------------------------------


def _scp(server: SshServer, prefix: str | None = None) -> transports.Transport:
    section = _section("scp", prefix or f"{SSH_HOST_ALIAS}:{server.root}/")
    return make_transport(section, {**os.environ, SSH_CONFIG_ENV: str(server.ssh_config)})


@pytest.mark.peer
def test_scp_put_and_atomic_replace(sshd: SshServer, tmp_path: Path) -> None:
    (sshd.root / "files").mkdir(exist_ok=True)
    source = tmp_path / "list"
    source.chmod(0o600) if source.exists() else None
    for content in (b"version 1\n", b"version 2\n"):
        source.write_bytes(content)
        source.chmod(0o600)
        target = _scp(sshd).put(source, URI)
        assert target == f"{SSH_HOST_ALIAS}:{sshd.root}/files/image.list"
        published = sshd.root / "files" / "image.list"
        assert published.read_bytes() == content
        assert stat.S_IMODE(published.stat().st_mode) & 0o044 == 0o044  # readable by the web
    assert _leftovers(sshd.root / "files") == []


@pytest.mark.peer
def test_scp_failure_keeps_the_old_file(sshd: SshServer, tmp_path: Path) -> None:
    (sshd.root / "files").mkdir(exist_ok=True)
    (sshd.root / "files" / "image.list").write_bytes(b"old")
    source = tmp_path / "list"
    source.write_bytes(b"new")
    # The remote rename fails: the target is a directory that is not empty.
    (sshd.root / "blocked").mkdir(exist_ok=True)
    (sshd.root / "blocked" / "image.list").mkdir(exist_ok=True)
    (sshd.root / "blocked" / "image.list" / "x").write_bytes(b"")
    with pytest.raises(UploadFailedError, match="scp upload to") as info:
        _scp(sshd).put(source, "https://www.example.org/blocked/image.list")
    assert "\n" not in str(info.value)
    assert _leftovers(sshd.root / "blocked") == []
    # The copy itself fails: no such remote directory.
    with pytest.raises(UploadFailedError, match="scp exited"):
        _scp(sshd).put(source, "https://www.example.org/missing/image.list")
    assert (sshd.root / "files" / "image.list").read_bytes() == b"old"


@pytest.mark.peer
def test_scp_unreachable_host(sshd: SshServer, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(sshd.ssh_config.read_text().replace(f"Port {sshd.port}", "Port 1"))
    source = tmp_path / "list"
    source.write_bytes(b"new")
    transport = make_transport(
        _section("scp", f"{SSH_HOST_ALIAS}:{sshd.root}/"),
        {**os.environ, SSH_CONFIG_ENV: str(config)},
    )
    with pytest.raises(UploadFailedError, match="scp exited with"):
        transport.put(source, URI)


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("/just/a/path/", "is not \\[user@\\]host:path"),
        ("-oProxyCommand=x:/srv/", "is not \\[user@\\]host:path"),
        ("host:/srv/with space/", "not safe"),
        (":/srv/", "is not \\[user@\\]host:path"),
    ],
)
def test_scp_target_validation(tmp_path: Path, prefix: str, message: str) -> None:
    transport = make_transport(_section("scp", prefix), environ=os.environ)
    with pytest.raises(PublishConfigError, match=message):
        transport.put(tmp_path, "https://www.example.org/x")


# --- command --------------------------------------------------------------------------------------


def test_command_with_rename(tmp_path: Path) -> None:
    (tmp_path / "image.list").write_bytes(b"old")
    source = tmp_path / "src"
    source.write_bytes(b"new")
    transport = make_transport(
        _section(
            "command",
            f"{tmp_path}/",
            command=("cp", "--", "{src}", "{dest}"),
            renameCommand=("mv", "-f", "--", "{src}", "{dest}"),
        ),
        environ=os.environ,
    )
    transport.put(source, "https://www.example.org/image.list")
    assert (tmp_path / "image.list").read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_command_without_rename_and_failures(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"new")
    direct = make_transport(
        _section("command", f"{tmp_path}/", command=("cp", "{src}", "{dest}")), environ=os.environ
    )
    direct.put(source, "https://www.example.org/out")
    assert (tmp_path / "out").read_bytes() == b"new"
    failing = make_transport(
        _section("command", f"{tmp_path}/", command=("false", "{src}", "{dest}")),
        environ=os.environ,
    )
    with pytest.raises(UploadFailedError, match="false exited with 1: no error output"):
        failing.put(source, "https://www.example.org/out")
    missing = make_transport(
        _section("command", f"{tmp_path}/", command=("no-such-program-xyz", "{src}", "{dest}")),
        environ=os.environ,
    )
    with pytest.raises(UploadFailedError, match="cannot run no-such-program-xyz"):
        missing.put(source, "https://www.example.org/out")
    assert (tmp_path / "out").read_bytes() == b"new"


# --- gsidcap --------------------------------------------------------------------------------------


def test_gsidcap_without_dccp_says_what_to_install(tmp_path: Path) -> None:
    transport = make_transport(
        _section("gsidcap", "gsidcap://dcache.example.org:22128/pnfs/", pdcapPreload=""),
        {"PATH": str(tmp_path)},
    )
    with pytest.raises(UploadFailedError, match="install the dCache client") as info:
        transport.put(tmp_path, URI)
    assert info.value.exit_code == 77


def test_gsidcap_argument_vectors(tmp_path: Path) -> None:
    """A stand-in dccp (no dCache here) that records its arguments and copies."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "dccp.log"
    dccp = bin_dir / "dccp"
    dccp.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncp "$6" "$7"\n')
    dccp.chmod(0o755)
    (tmp_path / "pnfs").mkdir()
    source = tmp_path / "src"
    source.write_bytes(b"new")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    transport = make_transport(_section("gsidcap", f"{tmp_path}/pnfs/", pdcapPreload=""), env)
    assert transport.put(source, URI.replace("files/", "")) == f"{tmp_path}/pnfs/image.list"
    assert (tmp_path / "pnfs" / "image.list").read_bytes() == b"new"
    arguments = log.read_text().split()
    assert arguments[:6] == ["-C", "3000", "-d", "2", "-A", str(source)]
    assert arguments[6].startswith(f"{tmp_path}/pnfs/image.list.tmp-")
    # rename refused (target is a non-empty directory): upload fails, temp removed
    (tmp_path / "pnfs" / "blocked").mkdir()
    (tmp_path / "pnfs" / "blocked" / "x").write_bytes(b"")
    with pytest.raises(UploadFailedError, match="mv exited"):
        transport.put(source, "https://www.example.org/blocked")
    assert _leftovers(tmp_path / "pnfs") == []


def test_command_rename_failure_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"new")
    transport = make_transport(
        _section(
            "command",
            f"{tmp_path}/",
            command=("cp", "--", "{src}", "{dest}"),
            renameCommand=("false", "{src}", "{dest}"),
        ),
        environ=os.environ,
    )
    with pytest.raises(UploadFailedError):
        transport.put(source, "https://www.example.org/image.list")
    assert "remove it by hand" in caplog.text
    assert not (tmp_path / "image.list").exists()
