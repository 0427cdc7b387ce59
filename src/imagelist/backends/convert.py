"""Disk formats: detect with ``qemu-img info``, extract OVA disks, convert with qemu-img.

Shared by both backends. Every tool runs from an argument vector, never a shell, with a timeout.
Results are cached in a directory by (sha512 of the source, target), as ``<sha512>.<target>``
with a ``.sha512`` file beside it holding the result's own digest (written last, so a result
without it is incomplete): nothing is extracted or converted twice (unlike EGI atrope, which
re-converts every run). Images with a backing file, an external data file or VMDK extents in
other files are refused: they would make qemu-img read files the list never named.

Every step is bounded by the size of the verified source (the list's ``hv:size``): an OVA member
is extracted only if it is a regular, non-sparse file no larger than the archive, the OVF
descriptor is read only up to :data:`OVF_MAX_BYTES`, and qemu-img converts only images whose
virtual size is at most ``max_expansion`` (default :data:`MAX_EXPANSION`) times the source, under
an ``RLIMIT_FSIZE`` of that size, so no input can make it write more.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pwd
import resource
import shutil
import subprocess
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from ..errors import ConversionError
from .source import CHUNK, VerifiedFile

__all__ = [
    "MAX_EXPANSION",
    "NO_ENVIRONMENT",
    "OVF_MAX_BYTES",
    "Converter",
    "DiskInfo",
    "Prepared",
    "conversion_directory",
    "file_sha512",
    "glance_format",
    "home_directory",
]

logger = logging.getLogger(__name__)

#: qemu-img format names → the disk_format names clouds use (Glance, OpenNebula DRIVER).
_FROM_QEMU = {"vpc": "vhd"}
_TO_QEMU = {"vhd": "vpc"}
_DISK_SUFFIXES = (".vmdk", ".vdi", ".raw", ".img", ".qcow2", ".qcow", ".vhd", ".vhdx")
_OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
_CHUNK = CHUNK
#: A conversion may write at most this many times the source's size (the list's hv:size).
MAX_EXPANSION = 64
#: The largest OVF descriptor read (real ones are a few KB).
OVF_MAX_BYTES = 1024 * 1024


def glance_format(qemu_format: str) -> str:
    """The cloud's name of a qemu-img format (``vpc`` is ``vhd``)."""
    return _FROM_QEMU.get(qemu_format, qemu_format)


#: The environment of a backend made without one (a library caller): no variables at all.
NO_ENVIRONMENT: Mapping[str, str] = MappingProxyType({})


def home_directory(environ: Mapping[str, str]) -> Path:
    """``$HOME`` of ``environ``, else the user's home directory from the password database."""
    home = environ.get("HOME")
    if home:
        return Path(home)
    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:  # a user without an entry: as ~ would
        return Path("/")


def conversion_directory(configured: str, environ: Mapping[str, str]) -> Path:
    """Where conversions are cached: ``configured``, else $XDG_CACHE_HOME (or ~/.cache)
    /imagelist/conversions, the variables taken from ``environ`` (the command's)."""
    if configured:
        return Path(configured)
    base = environ.get("XDG_CACHE_HOME") or str(home_directory(environ) / ".cache")
    return Path(base) / "imagelist" / "conversions"


def file_sha512(path: Path) -> str:
    """The SHA-512 hex digest of a file."""
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class DiskInfo:
    """What ``qemu-img info`` says of a file."""

    format: str  # cloud naming (raw, qcow2, vmdk, vdi, vhd, ...)
    virtual_size: int


@dataclass(frozen=True)
class Prepared:
    """The file to upload: the cached original, or an extracted or converted copy."""

    path: Path
    disk_format: str
    sha512: str  # of ``path`` (the list's sha512 when it is the original)
    converted: bool


class Converter:
    """qemu-img and OVA handling with a cache directory keyed by (sha512, target)."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        qemu_img: str | None = None,
        timeout: float = 3600.0,
        max_expansion: int = MAX_EXPANSION,
        environ: Mapping[str, str] = NO_ENVIRONMENT,
    ) -> None:
        self.cache_dir = cache_dir
        #: The environment qemu-img runs in and is found on (``PATH``): the command's, passed
        #: down (default: none; qemu-img is then looked for on ``os.defpath``).
        self.environ = environ
        self._qemu_img = qemu_img
        self.timeout = timeout
        self.max_expansion = max_expansion

    @property
    def qemu_img(self) -> str:
        """The qemu-img binary (ConversionError when there is none)."""
        if self._qemu_img is None:
            found = shutil.which("qemu-img", path=self.environ.get("PATH", os.defpath))
            if found is None:
                raise ConversionError("qemu-img not found on PATH (Debian package qemu-utils)")
            self._qemu_img = found
        return self._qemu_img

    def _run(
        self, argv: Sequence[str], *, pass_fds: Sequence[int] = (), max_file: int | None = None
    ) -> str:
        def limit() -> None:  # in the child: no file it writes may grow past max_file
            if max_file is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (max_file, max_file))

        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                env=dict(self.environ),
                pass_fds=tuple(pass_fds),
                preexec_fn=limit if max_file is not None else None,
            )
        except subprocess.TimeoutExpired:
            raise ConversionError(
                f"{argv[0]} {argv[1]} took longer than {self.timeout:.0f} s"
            ) from None
        except OSError as exc:
            raise ConversionError(f"cannot run {argv[0]}: {exc.strerror}") from None
        if done.returncode == -25:  # SIGXFSZ: the output reached max_file
            raise ConversionError(
                f"{Path(argv[0]).name} {argv[1]} would write more than {max_file} bytes; refused"
            )
        if done.returncode != 0:
            raise ConversionError(
                f"{Path(argv[0]).name} {argv[1]} failed: {done.stderr.strip() or done.returncode}"
            )
        return done.stdout

    def info(self, path: Path | VerifiedFile) -> DiskInfo:
        """Detect the format; refuse images that refer to other files."""
        target, fds, name = _target(path)
        text = self._run([self.qemu_img, "info", "--output=json", target], pass_fds=fds)
        try:
            data: dict[str, Any] = json.loads(text)
            qemu_format = str(data["format"])
            virtual_size = int(data.get("virtual-size", 0))
        except (ValueError, KeyError, TypeError):
            raise ConversionError(f"qemu-img info gave no usable answer for {name}") from None
        if data.get("backing-filename") or data.get("full-backing-filename"):
            raise ConversionError(f"{name}: image has a backing file; refused")
        specific = data.get("format-specific", {}).get("data", {})
        if specific.get("data-file"):
            raise ConversionError(f"{name}: image has an external data file; refused")
        for extent in specific.get("extents", []) or []:
            extent_name = extent.get("filename")
            if extent_name and Path(extent_name).resolve() != Path(target).resolve():
                raise ConversionError(f"{name}: VMDK extent in another file; refused")
        return DiskInfo(glance_format(qemu_format), virtual_size)

    # --- cache ------------------------------------------------------------------------------

    def _cached(self, sha512: str, target: str) -> tuple[Path, str] | None:
        result = self.cache_dir / f"{sha512}.{target}"
        digest_file = result.with_name(result.name + ".sha512")
        if result.is_file() and digest_file.is_file():
            return result, digest_file.read_text().strip()
        return None

    @contextlib.contextmanager
    def _writing(self, sha512: str, target: str) -> Iterator[tuple[Path, Path]]:
        """A temporary path in the cache dir, moved to ``<sha512>.<target>`` on success."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{sha512[:16]}.", dir=self.cache_dir)
        os.close(handle)
        temporary = Path(name)
        result = self.cache_dir / f"{sha512}.{target}"
        try:
            yield temporary, result
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _commit(self, temporary: Path, result: Path, digest: str) -> None:
        os.replace(temporary, result)
        digest_file = result.with_name(result.name + ".sha512")
        digest_file.write_text(digest + "\n")

    def forget(self, sha512: str) -> None:
        """Remove every cached result made from the source ``sha512``."""
        if not self.cache_dir.is_dir():
            return
        for path in self.cache_dir.glob(f"{sha512}.*"):
            path.unlink(missing_ok=True)

    # --- OVA ---------------------------------------------------------------------------------

    def extract_ova(self, source: VerifiedFile) -> tuple[Path, str]:
        """The first disk of an OVA archive (as the OVF's DiskSection lists it), cached.

        Only regular, non-sparse members no larger than the archive itself are read.
        """
        sha512, name = source.sha512, source.path.name
        cached = self._cached(sha512, "ova-disk")
        if cached is not None:
            return cached
        try:
            archive = tarfile.open(fileobj=source.rewind(), mode="r:")  # noqa: SIM115 - with
            with archive:
                members = {_normal(m.name): m for m in archive.getmembers() if m.isfile()}
                member = members.get(_first_disk_name(archive, members, name) or "")
                if member is None:
                    raise ConversionError(f"{name}: the OVA holds no disk image")
                _check_member(member, source.size, name)
                data = archive.extractfile(member)
                if data is None:  # pragma: no cover - isfile() members always have data
                    raise ConversionError(f"{name}: cannot read {member.name}")
                with self._writing(sha512, "ova-disk") as (temporary, result):
                    digest = _copy_hashing(data, temporary, member.size)
                    self._commit(temporary, result, digest)
        except (tarfile.TarError, OSError) as exc:
            raise ConversionError(f"{name}: not a readable OVA (tar) archive: {exc}") from None
        logger.info("extracted %s from OVA %s", member.name, name)
        return result, digest

    # --- conversion -----------------------------------------------------------------------

    def convert(
        self, path: Path | VerifiedFile, source_format: str, target: str, sha512: str, limit: int
    ) -> tuple[Path, str]:
        """``path`` converted to ``target`` (cloud naming), cached by (sha512, target).

        qemu-img may write at most ``limit`` bytes (``RLIMIT_FSIZE``).
        """
        cached = self._cached(sha512, target)
        if cached is not None:
            logger.info("conversion of %s to %s found in the cache", sha512[:16], target)
            return cached
        source, fds, name = _target(path)
        with self._writing(sha512, target) as (temporary, result):
            self._run(
                [
                    self.qemu_img,
                    "convert",
                    "-q",
                    "-f",
                    _TO_QEMU.get(source_format, source_format),
                    "-O",
                    _TO_QEMU.get(target, target),
                    source,
                    str(temporary),
                ],
                pass_fds=fds,
                max_file=limit,
            )
            digest = file_sha512(temporary)
            self._commit(temporary, result, digest)
        logger.info("converted %s from %s to %s", name, source_format, target)
        return result, digest

    def prepare(self, source: VerifiedFile, *, ova: bool, accepted: Sequence[str]) -> Prepared:
        """The file to upload for the verified ``source``: its OVA disk if ``ova``, converted
        to the first ``accepted`` format when its own format is not accepted (``accepted``
        empty: any). A conversion is refused if the image's virtual size is more than
        ``max_expansion`` times the source's size."""
        limit = max(source.size, 1) * self.max_expansion
        disk: Path | VerifiedFile = source
        digest, converted = source.sha512, False
        if ova or _is_tar(source):
            disk, digest = self.extract_ova(source)
            converted = True
        info = self.info(disk)
        wanted = [f.lower() for f in accepted]
        if not wanted or info.format in wanted:
            path = disk if isinstance(disk, Path) else source.path
            return Prepared(path, info.format, digest, converted)
        if info.virtual_size > limit:
            raise ConversionError(
                f"{source.path.name}: virtual size {info.virtual_size} is more than "
                f"{self.max_expansion} times the image's {source.size} bytes; not converted"
            )
        target = wanted[0]
        result, result_digest = self.convert(disk, info.format, target, source.sha512, limit)
        return Prepared(result, target, result_digest, True)


def _target(path: Path | VerifiedFile) -> tuple[str, tuple[int, ...], str]:
    """(what qemu-img opens, the descriptors it inherits, the name for messages)."""
    if isinstance(path, VerifiedFile):
        return path.fd_path, (path.handle.fileno(),), path.path.name
    return str(path), (), path.name


def _check_member(member: tarfile.TarInfo, archive_size: int, name: str) -> None:
    parts = Path(member.name).parts
    if member.name.startswith("/") or ".." in parts:
        raise ConversionError(f"{name}: OVA member {member.name!r} escapes the archive; refused")
    if member.issparse():
        raise ConversionError(f"{name}: OVA member {member.name!r} is a sparse file; refused")
    if member.size > archive_size:
        raise ConversionError(
            f"{name}: OVA member {member.name!r} claims {member.size} bytes, more than the "
            f"archive's {archive_size}; refused"
        )


def _normal(name: str) -> str:
    return name.removeprefix("./")


def _is_tar(source: VerifiedFile) -> bool:
    handle = source.rewind()
    handle.seek(257)
    magic = handle.read(5)
    source.rewind()
    return magic == b"ustar"


def _first_disk_name(
    archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str
) -> str | None:
    """The file of the first disk the OVF names, else the first disk-like member."""
    ovf = next((m for key, m in members.items() if key.lower().endswith(".ovf")), None)
    if ovf is not None:
        if ovf.issparse() or ovf.size > OVF_MAX_BYTES:
            raise ConversionError(
                f"{name}: OVF descriptor {ovf.name!r} is larger than {OVF_MAX_BYTES} bytes; refused"
            )
        handle = archive.extractfile(ovf)
        text = handle.read(OVF_MAX_BYTES + 1) if handle else b""
        if len(text) > OVF_MAX_BYTES:  # pragma: no cover - the header's size was checked
            raise ConversionError(f"{name}: OVF descriptor is larger than {OVF_MAX_BYTES} bytes")
        try:
            root = ET.fromstring(text)  # noqa: S314 - size capped; expat refuses entity bombs
        except ET.ParseError:
            root = None
        if root is not None:
            files = {
                f.get(f"{{{_OVF_NS}}}id"): f.get(f"{{{_OVF_NS}}}href")
                for f in root.iter(f"{{{_OVF_NS}}}File")
            }
            for disk in root.iter(f"{{{_OVF_NS}}}Disk"):
                href = files.get(disk.get(f"{{{_OVF_NS}}}fileRef"))
                if href and _normal(href) in members:
                    return _normal(href)
            for href in files.values():
                if href and _normal(href) in members:
                    return _normal(href)
    return next((n for n in members if n.lower().endswith(_DISK_SUFFIXES)), None)


def _copy_hashing(source: IO[bytes], target: Path, limit: int) -> str:
    """Copy at most ``limit`` bytes (more is an error) and return their SHA-512."""
    digest = hashlib.sha512()
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise ConversionError(f"an OVA member is longer than its {limit} bytes; refused")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()
