"""The cached file a backend uploads or converts: opened once, checked, hashed once.

:func:`open_cached` opens ``cache/<file>`` relative to the cache directory without following a
link (``O_NOFOLLOW``, so a symlink at ``cache/<id>`` is refused whatever it points at), checks
that it is a regular file, that its size is the event's ``hv:size`` and that its SHA-512 is the
event's, in one streaming pass. The backend then reads that same open file (the verified inode):
Glance uploads from it, OVA extraction reads it, qemu-img is given ``/proc/self/fd/N``. Only
OpenNebula's datastore driver reads the file by its path, after the check.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import CachedFileError, EventDataError
from ..fileio import NotRegularFileError, open_regular
from ..hashing import hash_descriptor
from .base import ImageSpec

__all__ = ["CHUNK", "VerifiedFile", "open_cached"]

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class VerifiedFile:
    """The cached file, open at offset 0, whose size and SHA-512 are the event's."""

    path: Path  # where it is in the cache (messages, and OpenNebula's PATH)
    handle: BinaryIO
    size: int
    sha512: str

    @property
    def fd_path(self) -> str:
        """A path naming exactly this open file, for a child given ``pass_fds=(fileno,)``."""
        return f"/proc/self/fd/{self.handle.fileno()}"

    def rewind(self) -> BinaryIO:
        """The handle, back at offset 0."""
        self.handle.seek(0)
        return self.handle


def _refuse(spec: ImageSpec, why: str) -> CachedFileError:
    return CachedFileError(f"image {spec.identifier}: cached file {spec.path} {why}; refused")


@contextlib.contextmanager
def open_cached(spec: ImageSpec) -> Iterator[VerifiedFile]:
    """The verified cached file of ``spec`` (CachedFileError if it is not the list's image)."""
    try:
        directory = os.open(spec.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise EventDataError(
            f"image {spec.identifier}: cache directory {spec.path.parent}: {exc.strerror}"
        ) from None
    try:
        descriptor, info = open_regular(spec.path.name, dir_fd=directory)
    except NotRegularFileError:
        raise _refuse(spec, "is not a regular file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(spec, "is a symbolic link") from None
        if exc.errno == errno.ENOENT:
            raise EventDataError(
                f"image {spec.identifier}: cached file {spec.path} does not exist"
            ) from None
        raise _refuse(spec, f"cannot be opened ({exc.strerror})") from None
    finally:
        os.close(directory)
    handle = os.fdopen(descriptor, "rb")
    with handle:
        if spec.size is not None and info.st_size != spec.size:
            raise _refuse(spec, f"has {info.st_size} bytes, the list says {spec.size}")
        hasher = hash_descriptor(descriptor, spec.path)
        size = hasher.size
        if size != info.st_size:
            raise _refuse(spec, "changed while it was read")
        if hasher.hexdigest() != spec.sha512:
            raise _refuse(spec, "does not have the list's SHA-512")
        handle.seek(0)
        logger.debug("%s: %d bytes, SHA-512 as listed", spec.path, size)
        yield VerifiedFile(spec.path, handle, size, spec.sha512)
