"""Test support for vmcaster: a real OpenSSH server, fresh PostgreSQL databases, a workspace.

The OpenSSH server (``/usr/sbin/sshd``) runs as the current user on 127.0.0.1 at a free port,
with a throwaway host key and one authorized client key. The client side is an ssh config file
that vmcaster's scp transport receives through ``VMCASTER_SSH_CONFIG`` (``-F FILE``); it names
the server ``vmcaster-test``. When the tests run as root, sshd needs its privilege separation
directory ``/run/sshd``, which is created if missing (as the Debian service does).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.peers import require_peer

SSH_HOST_ALIAS = "vmcaster-test"


@dataclass(frozen=True)
class SshServer:
    """A running sshd: upload into ``root`` through the host alias of ``ssh_config``."""

    port: int
    ssh_config: Path
    root: Path
    log: Path

    def ssh(self, *command: str) -> subprocess.CompletedProcess[bytes]:
        """Run a command on the server (a check from the test's side)."""
        return subprocess.run(
            ["ssh", "-F", str(self.ssh_config), SSH_HOST_ALIAS, *command],
            capture_output=True,
            check=False,
            timeout=30,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


@contextmanager
def running_sshd(base: Path) -> Iterator[SshServer]:
    """Start sshd under ``base``; yield the server; stop it."""
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    for tool in ("ssh", "scp", "ssh-keygen"):
        if shutil.which(tool) is None:
            require_peer("sshd", f"{tool} is not on PATH (install openssh-client)")
    if sshd is None:
        require_peer("sshd", "no sshd (install openssh-server)")
    if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
        try:
            Path("/run/sshd").mkdir(mode=0o755)
        except OSError as exc:
            require_peer("sshd", f"cannot create /run/sshd: {exc}")
    base.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwuid(os.geteuid()).pw_name
    _keygen(base / "host_key")
    _keygen(base / "client_key")
    shutil.copy(base / "client_key.pub", base / "authorized_keys")
    root = base / "srv"
    root.mkdir()
    port = _free_port()
    (base / "sshd_config").write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {base / 'host_key'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\n"
        f"PidFile {base / 'sshd.pid'}\n"
        "StrictModes no\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "Subsystem sftp internal-sftp\n"
    )
    (base / "ssh_config").write_text(
        f"Host {SSH_HOST_ALIAS}\n"
        "    HostName 127.0.0.1\n"
        f"    Port {port}\n"
        f"    User {user}\n"
        f"    IdentityFile {base / 'client_key'}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {base / 'known_hosts'}\n"
        "    StrictHostKeyChecking no\n"
        "    BatchMode yes\n"
        "    LogLevel ERROR\n"
    )
    log = base / "sshd.log"
    with log.open("wb") as log_stream:
        process = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(base / "sshd_config")],
            stdout=log_stream,
            stderr=subprocess.STDOUT,
        )
    server = SshServer(port, base / "ssh_config", root, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                require_peer("sshd", f"sshd exited: {log.read_text(errors='replace').strip()}")
            if server.ssh("true").returncode == 0:
                break
            if time.monotonic() > deadline:
                require_peer("sshd", f"no ssh login: {log.read_text(errors='replace').strip()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the test PostgreSQL server; dropped afterwards."""
    name = f"vmcaster_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- running vmcaster -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """Exit code and output of one vmcaster call."""

    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_vmcaster_process(
    args: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None = None
) -> Result:
    """Run vmcaster as a separate process (real stderr, default logging, no terminal)."""
    import sys

    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **env}
    process = subprocess.run(
        [sys.executable, "-m", "imagelist.cli.vmcaster", *args],
        env=full_env,
        cwd=cwd,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        check=False,
        timeout=120,
    )
    return Result(
        process.returncode,
        process.stdout.decode("utf-8", "replace"),
        process.stderr.decode("utf-8", "replace"),
    )


def local_config(path: Path, server: str, match: str, target_dir: Path) -> Path:
    """A vmcaster.cfg with one ``local`` section."""
    path.write_text(
        "[web]\n"
        f'server = "{server}"\n'
        'protocol = "local"\n'
        f'uriMatch = "{match}"\n'
        f'uriReplace = "{target_dir}/"\n'
    )
    return path
