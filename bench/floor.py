"""The floor every hashing benchmark is compared with: one core's SHA-512 of the same bytes.

Measured in this process with :mod:`hashlib` (OpenSSL's SHA-512, the library imagelist and
``openssl dgst`` use) over the file as it sits in the page cache: 4 MiB ``readinto`` a reused
buffer, so the figure is the hash plus the page-cache copy, the least any tool that reads the
file must spend. The file is read once before timing; the median of ``rounds`` is returned.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from pathlib import Path

CHUNK = 4 * 1024 * 1024


def _hash_once(path: Path) -> float:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    digest = hashlib.sha512()
    started = time.perf_counter()
    with path.open("rb", buffering=0) as stream:
        while count := stream.readinto(buffer):
            digest.update(view[:count])
    return time.perf_counter() - started


def sha512_floor(path: Path, rounds: int = 3) -> float:
    """Seconds for one core to SHA-512 ``path`` from the page cache (median of ``rounds``)."""
    _hash_once(path)  # into the page cache
    return statistics.median(_hash_once(path) for _ in range(rounds))
