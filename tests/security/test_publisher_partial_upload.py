"""Attack surface: a partial upload readable by all, and left behind when vmcaster is killed (17.5).

The ``local`` transport copied the image to ``<target>.tmp-XXXX`` created 0644, and a SIGTERM
in the middle left that file in the served directory for ever. Now the partial copy is 0600
until it is renamed, and SIGTERM removes it: exit 130, one line, directory and DB unchanged.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

from tests.security.publisher_support import (
    IMAGE,
    Publisher,
    publisher,  # noqa: F401
)

SIZE = 3 * 1024 * 1024 * 1024  # sparse: hashing it takes seconds, storing it nothing


def test_sigterm_during_a_local_upload(publisher: Publisher) -> None:  # noqa: F811
    source = publisher.base / "big.img"
    with source.open("wb") as handle:
        handle.truncate(SIZE)
    before = publisher.state()
    images = publisher.www / "images"
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **publisher.env}
    argv = [sys.executable, "-m", "imagelist.cli.vmcaster", "--select-image", IMAGE]
    argv += ["--upload-image", str(source)]
    process = subprocess.Popen(
        argv,
        cwd=publisher.base,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        partial = []
        while not partial and process.poll() is None and time.monotonic() < deadline:
            partial = [p for p in images.iterdir() if ".tmp-" in p.name]
            time.sleep(0.02)
        assert partial, "the copy did not start (or finished too fast to be interrupted)"
        assert stat.S_IMODE(partial[0].lstat().st_mode) == 0o600
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert process.returncode == 130, err
    assert lines == ["vmcaster: interrupted"]
    assert list(images.iterdir()) == [], "the partial copy is removed"
    assert publisher.state() == before
