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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.publisher.support import SSH_HOST_ALIAS, SshServer, running_sshd
from tests.security.publisher_support import (
    IMAGE,
    Publisher,
    publisher,  # noqa: F401
    tree,
)

SIZE = 3 * 1024 * 1024 * 1024  # sparse: hashing it takes seconds, storing it nothing


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _interrupt(publisher: Publisher, images: Path) -> Path:  # noqa: F811
    """Start an upload of a big sparse image, SIGTERM it mid-copy; return the partial's path."""
    source = publisher.base / "big.img"
    with source.open("wb") as handle:
        handle.truncate(SIZE)
    source.chmod(0o600)
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
        mode = stat.S_IMODE(partial[0].lstat().st_mode)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert process.returncode == 130, err
    assert lines == ["vmcaster: interrupted"]
    assert mode == 0o600, "the partial copy is private"
    return partial[0]


def test_sigterm_during_a_local_upload(publisher: Publisher) -> None:  # noqa: F811
    before = publisher.state()
    _interrupt(publisher, publisher.www / "images")
    assert list((publisher.www / "images").iterdir()) == [], "the partial copy is removed"
    assert publisher.state() == before


def test_sigterm_during_an_scp_upload(publisher: Publisher, sshd: SshServer) -> None:  # noqa: F811
    """The real sshd: the partial file on the server is removed too."""
    served = sshd.root / f"partial-{publisher.base.parent.name}"
    (served / "images").mkdir(parents=True)
    publisher.configure("scp", f"{SSH_HOST_ALIAS}:{served}/")
    publisher.env["VMCASTER_SSH_CONFIG"] = str(sshd.ssh_config)
    before = publisher.state()
    _interrupt(publisher, served / "images")
    assert tree(served) == {}, "the partial copy on the server is removed"
    assert publisher.state() == before
