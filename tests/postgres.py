"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, loopback only.

The server runs as the ``postgres`` system user when the tests run as root (initdb refuses
root), listens on 127.0.0.1 at a free port with trust authentication, and is stopped at the
end of the session. ``.ci/system-deps`` installs the Debian ``postgresql`` package.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peers import require_peer


def _pg_bin() -> Path | None:
    explicit = os.environ.get("IMAGELIST_PG_BIN")
    candidates = [explicit] if explicit else sorted(glob.glob("/usr/lib/postgresql/*/bin"))[::-1]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_user(command: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


@contextmanager
def running_postgres(base: Path) -> Iterator[str]:
    """Start a server under ``base``; yield a SQLAlchemy URL of an empty database."""
    bindir = _pg_bin()
    if bindir is None:
        require_peer("postgres", "no initdb found (install the Debian postgresql package)")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require_peer("postgres", "running as root and there is no postgres user for initdb")
        user = "postgres"
    data = base / "data"
    sockets = base / "sockets"
    for directory in (base, data, sockets):
        directory.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(directory, user=user)
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        _as_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], user),
        **run,  # type: ignore[call-overload]
    )
    options = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(base / "log"),
                "-w",
                "start",
            ],
            user,
        ),
        **run,  # type: ignore[call-overload]
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(
                [
                    str(bindir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    "imagelist_test",
                ],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if probe.returncode != 0:
            require_peer("postgres", f"createdb failed: {probe.stderr.decode(errors='replace')}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/imagelist_test"
    finally:
        subprocess.run(
            _as_user(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user
            ),
            capture_output=True,
            check=False,
        )
