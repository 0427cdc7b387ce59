"""Format detection, OVA extraction and conversion with the real qemu-img."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from imagelist.backends.convert import Converter, file_sha512, glance_format
from imagelist.errors import ConversionError
from tests.backends.support import Cache, verified


@pytest.mark.parametrize(("source", "target"), [("raw", "qcow2"), ("qcow2", "raw")])
def test_conversion_between_raw_and_qcow2_is_cached(
    source: str, target: str, cache: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = cache.disk("img", source)
    converter = Converter(tmp_path / "conv")
    with verified(cache.path / "img") as source:
        prepared = converter.prepare(source, ova=False, accepted=[target])
    assert prepared.disk_format == target
    assert prepared.converted
    assert prepared.path == tmp_path / "conv" / f"{digest}.{target}"
    assert converter.info(prepared.path).format == target
    assert prepared.sha512 == file_sha512(prepared.path)
    ran: list[list[str]] = []
    monkeypatch.setattr(converter, "_run", lambda argv, **_: ran.append(list(argv)) or "")
    again = converter.convert(cache.path / "img", source, target, digest, 1 << 30)
    assert again == (prepared.path, prepared.sha512)
    assert ran == []  # nothing converted twice
    converter.forget(digest)
    assert not prepared.path.exists()


def test_accepted_format_is_uploaded_as_is(cache: Cache, tmp_path: Path) -> None:
    digest = cache.disk("img", "qcow2")
    with verified(cache.path / "img") as source:
        prepared = Converter(tmp_path).prepare(source, ova=False, accepted=["raw", "qcow2"])
        anything = Converter(tmp_path).prepare(source, ova=False, accepted=[])
    assert (prepared.path, prepared.sha512, prepared.converted) == (
        cache.path / "img",
        digest,
        False,
    )
    assert anything.disk_format == "qcow2"


def test_an_ova_gives_its_first_disk_converted(cache: Cache, tmp_path: Path) -> None:
    digest = cache.ova("app")
    converter = Converter(tmp_path / "conv")
    with verified(cache.path / "app") as source:
        vmdk = converter.prepare(source, ova=True, accepted=["vmdk"])
        assert vmdk.disk_format == "vmdk"
        assert vmdk.path.name == f"{digest}.ova-disk"
        qcow2 = converter.prepare(source, ova=False, accepted=["qcow2"])
    assert qcow2.disk_format == "qcow2"
    assert converter.info(qcow2.path).virtual_size == 2 * 1024 * 1024


def test_ova_without_ovf_takes_the_first_disk_member(cache: Cache, tmp_path: Path) -> None:
    cache.disk("d", "vmdk")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(cache.path / "d", arcname="./x-disk1.vmdk")
    (cache.path / "nov").write_bytes(buffer.getvalue())
    with verified(cache.path / "nov", "1" * 128) as source:
        prepared = Converter(tmp_path).prepare(source, ova=True, accepted=["raw"])
    assert prepared.disk_format == "raw"


def test_broken_inputs_are_conversion_errors(cache: Cache, tmp_path: Path) -> None:
    converter = Converter(tmp_path)
    (cache.path / "junk").write_bytes(b"not a tar")
    with (
        verified(cache.path / "junk", "2" * 128) as source,
        pytest.raises(ConversionError, match="not a readable OVA"),
    ):
        converter.extract_ova(source)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("readme.txt")
        archive.addfile(info, io.BytesIO(b""))
        ovf = b"<Envelope><broken"
        info = tarfile.TarInfo("a.ovf")
        info.size = len(ovf)
        archive.addfile(info, io.BytesIO(ovf))
    (cache.path / "empty.ova").write_bytes(buffer.getvalue())
    with (
        verified(cache.path / "empty.ova", "3" * 128) as source,
        pytest.raises(ConversionError, match="no disk"),
    ):
        converter.extract_ova(source)
    with pytest.raises(ConversionError, match="qemu-img info failed"):
        converter.info(cache.path / "missing")


def test_images_referring_to_other_files_are_refused(
    cache: Cache, tmp_path: Path, qemu_img: str
) -> None:
    base = cache.path / "base.qcow2"
    subprocess.run(
        [qemu_img, "create", "-f", "qcow2", str(base), "1M"], check=True, capture_output=True
    )
    overlay = cache.path / "overlay"
    subprocess.run(
        [qemu_img, "create", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(ConversionError, match="backing file"):
        Converter(tmp_path).info(overlay)
    descriptor = cache.path / "flat.vmdk"
    descriptor.write_text(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        'createType="monolithicFlat"\nRW 2048 FLAT "base.qcow2" 0\n'
        'ddb.virtualHWVersion = "4"\n'
    )
    with pytest.raises(ConversionError, match="extent"):
        Converter(tmp_path).info(descriptor)


def test_missing_qemu_img_and_timeouts(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="qemu-utils"):
        _ = Converter(tmp_path, environ={"PATH": str(tmp_path)}).qemu_img
    with pytest.raises(ConversionError, match="cannot run"):
        Converter(tmp_path, qemu_img=str(tmp_path / "nope")).info(tmp_path)
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nexec /bin/sleep 5\n")
    slow.chmod(0o755)
    with pytest.raises(ConversionError, match="took longer"):
        Converter(tmp_path, qemu_img=str(slow), timeout=0.2).info(tmp_path)
    liar = tmp_path / "liar"
    liar.write_text("#!/bin/sh\nprintf '{}'\n")
    liar.chmod(0o755)
    with pytest.raises(ConversionError, match="no usable answer"):
        Converter(tmp_path, qemu_img=str(liar)).info(tmp_path)


def test_glance_format_names() -> None:
    assert glance_format("vpc") == "vhd"
    assert glance_format("qcow2") == "qcow2"
