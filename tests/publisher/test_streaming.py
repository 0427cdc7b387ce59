"""One-pass hashing and copying in binary chunks (D19: vmcaster hashed text lines)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from imagelist.publisher import streaming
from imagelist.publisher.streaming import CHUNK_SIZE, copy_hashing, hash_file


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17]
)
def test_hash_and_copy_match_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    source = tmp_path / "image"
    source.write_bytes(data)
    expected = hashlib.sha512(data).hexdigest()
    seen: list[int] = []
    digest = hash_file(source, seen.append)
    assert (digest.size, digest.sha512) == (size, expected)
    assert seen == sorted(seen)
    assert seen[-1:] == ([] if size == 0 else [size])
    target = tmp_path / "copy"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT)
    try:
        copied = copy_hashing(source, fd, seen.append)
    finally:
        os.close(fd)
    assert copied == digest
    assert target.read_bytes() == data


def test_binary_image_without_newlines_and_with_crlf(tmp_path: Path) -> None:
    """A 'line' of a binary image can be any size; CR/LF bytes must be hashed as they are."""
    data = b"\r\n\n\r" * 1000 + b"\x00" * (CHUNK_SIZE + 5)
    source = tmp_path / "image"
    source.write_bytes(data)
    assert hash_file(source).sha512 == hashlib.sha512(data).hexdigest()


def test_writeback_lag_is_used_for_big_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 1024)
    monkeypatch.setattr(streaming, "WRITEBACK_LAG", 4096)
    calls: list[tuple[int, int]] = []
    real = streaming._start_writeback

    def spy(fd: int, offset: int, length: int) -> bool:
        calls.append((offset, length))
        return real(fd, offset, length)

    monkeypatch.setattr(streaming, "_start_writeback", spy)
    data = os.urandom(10 * 1024 + 3)
    source = tmp_path / "image"
    source.write_bytes(data)
    fd = os.open(tmp_path / "copy", os.O_WRONLY | os.O_CREAT)
    try:
        digest = copy_hashing(source, fd)
    finally:
        os.close(fd)
    assert digest.sha512 == hashlib.sha512(data).hexdigest()
    assert calls[:1] == [(0, 1024)]


def test_writeback_on_a_pipe_is_given_up(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        assert not streaming._start_writeback(write_end, 0, 10)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_failed_write_stops_the_copy(tmp_path: Path) -> None:
    source = tmp_path / "image"
    source.write_bytes(b"x" * 100)
    fd = os.open(tmp_path / "copy", os.O_RDONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="Bad file descriptor"):
            copy_hashing(source, fd)
    finally:
        os.close(fd)
