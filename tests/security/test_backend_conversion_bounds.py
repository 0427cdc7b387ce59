"""Attack: small inputs that make extraction or conversion write or read without bound (17.3).

Every step is bounded by the list's ``hv:size``: an OVA member is extracted only if it is a
regular, non-sparse file no larger than the archive and inside it; the OVF descriptor is read
only up to 1 MiB; qemu-img converts only images whose virtual size is at most ``max_expansion``
(default 64) times ``hv:size``, under an RLIMIT_FSIZE of that size. Each attack runs through
``imagelist-opennebula`` with the real qemu-img and GNU tar: exit 53, one line, no image in the
cloud, nothing written beside the conversion cache, the cache as it was.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from imagelist.backends.convert import OVF_MAX_BYTES, Converter
from imagelist.errors import ConversionError
from tests.backends.support import OVF, Cache, available, sha512
from tests.fakes.oned import FakeOned
from tests.peers import require_peer
from tests.security.backend_support import one_line, run_opennebula, tree

ID = "c0ffee00-1111-4222-8333-444455556666"
GIB = 1024**3


def gnu_tar(directory: Path, archive: Path, *names: str) -> None:
    """``tar --sparse`` (GNU format): a sparse member costs a few bytes in the archive."""
    tar = shutil.which("tar")
    if tar is None:
        require_peer("tar", "GNU tar not on PATH")
    subprocess.run(
        [tar, "--sparse", "--format=gnu", "-cf", str(archive), "-C", str(directory), *names],
        check=True,
        capture_output=True,
    )


def sparse_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        handle.write(b"KDMV")  # a few real bytes; the rest is a hole
        handle.truncate(size)


def tar_of(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def attack(
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fmt: str = "OVA",
    formats: str = '["qcow2"]',
) -> str:
    """Publish ``cache/<ID>`` (whatever the test put there); the one error line (exit 53)."""
    digest = sha512(cache.path / ID)
    env = available(cache, ID, digest, VMCATCHER_EVENT_HV_FORMAT=fmt)
    cache_before = tree(cache.path)
    outside = {p.name for p in tmp_path.iterdir()}
    config = f"disk_formats = {formats}\n"
    code, _, err = run_opennebula(oned, tmp_path, monkeypatch, capsys, env, config=config)
    assert code == 53, err
    assert oned.images == {}
    assert tree(cache.path) == cache_before
    assert {p.name for p in tmp_path.iterdir()} - outside <= {"conv", "one_auth", "opennebula.toml"}
    conversions = tmp_path / "conv"
    written = sum(p.stat().st_size for p in conversions.rglob("*")) if conversions.exists() else 0
    assert written == 0  # nothing extracted or converted, not even partly
    return one_line(err, "imagelist-opennebula")


def test_an_ova_with_a_sparse_2_gib_disk_is_not_extracted(
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "appliance.ovf").write_text(OVF.format(disk="disk.vmdk"))
    sparse_file(work / "disk.vmdk", 2 * GIB)
    gnu_tar(work, cache.path / ID, "appliance.ovf", "disk.vmdk")
    shutil.rmtree(work)
    assert (cache.path / ID).stat().st_size < 64 * 1024  # a few KB for 2 GiB
    line = attack(oned, cache, tmp_path, monkeypatch, capsys)
    assert "'disk.vmdk' is a sparse file; refused" in line


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse-2GiB", "2MiB"])
def test_an_ova_with_a_huge_ovf_is_not_read(
    sparse: bool,
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if sparse:
        sparse_file(work / "appliance.ovf", 2 * GIB)
    else:
        (work / "appliance.ovf").write_bytes(b"<Envelope>" + b" " * (2 * OVF_MAX_BYTES))
    cache.disk("disk.vmdk", "vmdk")
    shutil.move(cache.path / "disk.vmdk", work / "disk.vmdk")
    gnu_tar(work, cache.path / ID, "appliance.ovf", "disk.vmdk")
    shutil.rmtree(work)
    line = attack(oned, cache, tmp_path, monkeypatch, capsys)
    assert f"OVF descriptor 'appliance.ovf' is larger than {OVF_MAX_BYTES} bytes" in line


def test_a_tiny_qcow2_of_1_tib_is_not_converted(
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    subprocess.run(
        [cache.qemu_img, "create", "-q", "-f", "qcow2", str(cache.path / ID), "1T"],
        check=True,
        capture_output=True,
    )
    size = (cache.path / ID).stat().st_size
    line = attack(oned, cache, tmp_path, monkeypatch, capsys, fmt="QCOW2", formats='["raw"]')
    assert f"virtual size {1024**4} is more than 64 times the image's {size} bytes" in line


def test_qemu_img_cannot_write_past_the_bound(cache: Cache, tmp_path: Path) -> None:
    """The second fence: RLIMIT_FSIZE stops qemu-img itself at the bound."""
    digest = cache.disk("img", "qcow2")  # 2 MiB virtual
    converter = Converter(tmp_path / "conv")
    with pytest.raises(ConversionError, match="convert") as refused:
        converter.convert(cache.path / "img", "qcow2", "raw", digest, 1024 * 1024)
    assert refused.value.exit_code == 53
    assert list((tmp_path / "conv").iterdir()) == []  # the partial output is removed


@pytest.mark.parametrize(
    ("members", "links", "message"),
    [
        (
            {"appliance.ovf": OVF.format(disk="disk.vmdk").encode()},
            {"disk.vmdk": "/etc/passwd"},
            "holds no disk image",
        ),
        ({"../../escape.vmdk": b"KDMV" + b"\0" * 508}, {}, "escapes the archive"),
        ({"/abs/disk.vmdk": b"KDMV" + b"\0" * 508}, {}, "escapes the archive"),
    ],
    ids=["symlink-member", "dotdot-member", "absolute-member"],
)
def test_ova_members_that_are_links_or_escape_are_refused(
    members: dict[str, bytes],
    links: dict[str, str],
    message: str,
    oned: FakeOned,
    cache: Cache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (cache.path / ID).write_bytes(tar_of(members, links))
    line = attack(oned, cache, tmp_path, monkeypatch, capsys)
    assert message in line
    assert not (tmp_path.parent / "escape.vmdk").exists()
