"""Helpers of the backend tests: a cache with small real images, event environments."""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imagelist.backends.source import VerifiedFile

LIST_ID = "6b9c2f4e-3a1d-4c8e-9f5b-2d7e1a0c4b38"

OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:id="file1" ovf:href="{disk}"/>
  </References>
  <DiskSection>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="2097152"/>
  </DiskSection>
</Envelope>
"""


@dataclass
class Cache:
    """A vmcatcher cache directory (``VMCATCHER_CACHE_DIR_CACHE``) holding ``<uuid>`` files."""

    path: Path
    qemu_img: str

    def __post_init__(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def disk(self, identifier: str, fmt: str = "qcow2", size: str = "2M", seed: int = 0) -> str:
        """A real disk image of format ``fmt`` as cached file ``identifier``; its sha512.

        ``seed`` writes a few distinct bytes, so two versions of an image differ.
        """
        target = self.path / identifier
        raw = target.with_suffix(".src")
        raw.write_bytes(b"\0" * 512 + f"imagelist test disk {identifier} {seed}".encode())
        with raw.open("r+b") as handle:
            handle.truncate(2 * 1024 * 1024)
        subprocess.run(
            [self.qemu_img, "convert", "-f", "raw", "-O", fmt, str(raw), str(target)],
            check=True,
            capture_output=True,
        )
        raw.unlink()
        return sha512(target)

    def ova(self, identifier: str, disk_name: str = "disk 1.vmdk") -> str:
        """An OVA (tar: OVF + one streamOptimized vmdk) as cached file ``identifier``."""
        self.disk(identifier + ".vmdk-src", "vmdk")
        vmdk = (self.path / (identifier + ".vmdk-src")).read_bytes()
        (self.path / (identifier + ".vmdk-src")).unlink()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
            for name, data in (
                ("appliance.ovf", OVF.format(disk=disk_name).encode()),
                (disk_name, vmdk),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        (self.path / identifier).write_bytes(buffer.getvalue())
        return sha512(self.path / identifier)


@contextlib.contextmanager
def verified(path: Path, digest: str | None = None) -> Iterator[VerifiedFile]:
    """``path`` open as a backend hands it to the converter (``digest``: its SHA-512)."""
    with path.open("rb") as handle:
        yield VerifiedFile(path, handle, path.stat().st_size, digest or sha512(path))


def _size(path: Path) -> int:
    """The cached file's size, as the list's hv:size gives it (0 when there is no file)."""
    return path.stat().st_size if path.is_file() else 0


def sha512(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


def available(cache: Cache, identifier: str, digest: str, **extra: str) -> dict[str, str]:
    """The environment vmcatcher_cache gives a handler for AvailablePostfix."""
    env = {
        "VMCATCHER_EVENT_TYPE": "AvailablePostfix",
        "VMCATCHER_EVENT_UUID_SESSION": "5d9a1f4e-0000-11ef-9c2e-0242ac120002",
        "VMCATCHER_EVENT_DC_IDENTIFIER": identifier,
        "VMCATCHER_EVENT_DC_TITLE": f"Appliance {identifier}",
        "VMCATCHER_EVENT_DC_DESCRIPTION": f"The {identifier} appliance",
        "VMCATCHER_EVENT_HV_URI": f"https://images.example.org/{identifier}.img",
        "VMCATCHER_EVENT_HV_SIZE": str(_size(cache.path / identifier)),
        "VMCATCHER_EVENT_HV_VERSION": "1.0",
        "VMCATCHER_EVENT_HV_HYPERVISOR": "kvm",
        "VMCATCHER_EVENT_SL_ARCH": "x86_64",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512": digest,
        "VMCATCHER_EVENT_SL_OS": "Linux",
        "VMCATCHER_EVENT_SL_OSVERSION": "12",
        "VMCATCHER_EVENT_FILENAME": identifier,
        "VMCATCHER_EVENT_IL_DC_IDENTIFIER": LIST_ID,
        "VMCATCHER_EVENT_HV_FORMAT": "QCOW2",
        "VMCATCHER_CACHE_DIR_CACHE": str(cache.path) + "/",
    }
    env.update(extra)
    return env


def expire(identifier: str, digest: str, kind: str = "ExpirePostfix") -> dict[str, str]:
    """The environment of an Expire event (the file is in the expired dir by then)."""
    return {
        "VMCATCHER_EVENT_TYPE": kind,
        "VMCATCHER_EVENT_DC_IDENTIFIER": identifier,
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512": digest,
        "VMCATCHER_EVENT_FILENAME": f"{identifier}.2026-11-26_12-00-00",
    }


def process(kind: str = "ProcessPostfix") -> dict[str, str]:
    return {"VMCATCHER_EVENT_TYPE": kind}
