"""Attack: ``--key-value-*-file`` pointed at ``/dev/zero``, a FIFO or a huge file (17.5).

vmcaster read the whole file into memory: ``/dev/zero`` ended in MemoryError (exit 70) after
eating the machine's memory, a FIFO blocked for ever. Now a value file must be a regular file
of at most 1 MiB of UTF-8: anything else is one line, exit 1, at once, and the key is not set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from imagelist.publisher.safefiles import VALUE_FILE_MAX_BYTES
from tests.security.publisher_support import (
    IMAGE,
    LIST,
    Publisher,
    publisher,  # noqa: F401
)


def _refused(publisher: Publisher, kind: str, selection: str, value_file: str) -> str:  # noqa: F811
    before = publisher.state()
    started = time.monotonic()
    result = publisher.run(
        f"--select-{kind}",
        selection,
        f"--key-set-{kind}",
        "dc:description",
        f"--key-value-{kind}-file",
        value_file,
    )
    assert time.monotonic() - started < 60, "must not block or read without bound"
    assert result.rc == 1, result.err
    assert len(result.err_lines) == 1, result.err
    assert "Traceback" not in result.err
    assert "MemoryError" not in result.err
    assert publisher.state() == before, "the key must not be set"
    return result.err_lines[0]


def test_dev_zero(publisher: Publisher) -> None:  # noqa: F811
    line = _refused(publisher, "image", IMAGE, "/dev/zero")
    assert line == (
        "vmcaster: error: cannot read --key-value-image-file /dev/zero: not a regular file"
    )


def test_fifo_without_writer(publisher: Publisher, tmp_path: Path) -> None:  # noqa: F811
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    line = _refused(publisher, "imagelist", LIST, str(fifo))
    assert line.endswith(f"{fifo}: not a regular file")


def test_oversized_file(publisher: Publisher, tmp_path: Path) -> None:  # noqa: F811
    big = tmp_path / "big"
    with big.open("wb") as handle:
        handle.truncate(VALUE_FILE_MAX_BYTES + 1)  # sparse: costs no disk
    line = _refused(publisher, "imagelist", LIST, str(big))
    assert line.endswith(f"larger than {VALUE_FILE_MAX_BYTES} bytes")


@pytest.mark.parametrize("data", [b"\xff\xfe not utf-8"])
def test_not_text(publisher: Publisher, tmp_path: Path, data: bytes) -> None:  # noqa: F811
    path = tmp_path / "binary"
    path.write_bytes(data)
    assert _refused(publisher, "imagelist", LIST, str(path)).endswith("not UTF-8 text")


def test_a_small_file_is_still_read(publisher: Publisher, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "description"
    path.write_text("line one\nline two\n")
    result = publisher.run(
        "--select-imagelist",
        LIST,
        "--key-set-imagelist",
        "dc:description",
        "--key-value-imagelist-file",
        str(path),
    )
    assert result.rc == 0, result.err
    store = publisher.store
    try:
        assert store.get_key("imagelist", LIST, "dc:description") == "line one\nline two\n"
    finally:
        store.engine.dispose()
