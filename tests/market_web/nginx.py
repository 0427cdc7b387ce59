"""The real nginx in front of the marketplace, on loopback, configured from the shipped file.

``contrib/nginx/imagelist-market.conf`` is rendered for a test by replacing its production
values (ports, certificate paths, upstream, data directory) with the test's; every value must be
found exactly once, so a change to the shipped file that the tests would no longer exercise
fails here instead of being silently skipped. The trust bundles come from the shipped
``contrib/nginx/imagelist-igtf-bundle`` run on the test PKI's IGTF directory.

nginx runs in the foreground (``daemon off``) with a tmp prefix, so pid, logs and temp files stay
under the test's directory and it works as root or not.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONF = REPO / "contrib" / "nginx" / "imagelist-market.conf"
BUNDLE_SCRIPT = REPO / "contrib" / "nginx" / "imagelist-igtf-bundle"
NGINX_BINARIES = ("/usr/sbin/nginx", "nginx")


def nginx_binary() -> str | None:
    """The nginx executable, if installed."""
    for candidate in NGINX_BINARIES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class SiteValues:
    """What the test puts in place of the shipped file's production values."""

    https_port: int
    upstream: str  # host:port of the application
    host_cert: Path
    host_key: Path
    ca_bundle: Path
    crl_bundle: Path
    data_dir: Path  # holds store/


def render_site(text: str, values: SiteValues) -> str:
    """The shipped server configuration with the test's values; each must occur exactly once."""
    replacements = [
        ("    listen 443 ssl;\n", f"    listen 127.0.0.1:{values.https_port} ssl;\n"),
        ("    listen [::]:443 ssl;\n", ""),
        ("server 127.0.0.1:8000;", f"server {values.upstream};"),
        ("/etc/grid-security/hostcert.pem;", f"{values.host_cert};"),
        ("/etc/grid-security/hostkey.pem;", f"{values.host_key};"),
        ("/etc/nginx/igtf/ca-bundle.pem;", f"{values.ca_bundle};"),
        ("/etc/nginx/igtf/crl-bundle.pem;", f"{values.crl_bundle};"),
        ("root /var/lib/imagelist-market/data;", f"root {values.data_dir};"),
    ]
    for old, new in replacements:
        count = text.count(old)
        if count != 1:
            raise AssertionError(f"shipped nginx config: {old.strip()!r} found {count} times")
        text = text.replace(old, new)
    return text


def main_conf(prefix: Path, site: Path) -> str:
    """A minimal nginx.conf around the site file: everything under ``prefix``."""
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'logs' / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        f"    access_log {prefix / 'logs' / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )


def build_bundles(certdir: Path, outdir: Path) -> tuple[Path, Path]:
    """Run the shipped bundle script on an IGTF directory; return (CA bundle, CRL bundle)."""
    proc = subprocess.run(
        [str(BUNDLE_SCRIPT), str(certdir), str(outdir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"imagelist-igtf-bundle failed: {proc.stderr.strip()}")
    return outdir / "ca-bundle.pem", outdir / "crl-bundle.pem"


class Nginx:
    """nginx in the foreground under ``prefix``; ``start()`` waits until it accepts TLS."""

    def __init__(self, binary: str, prefix: Path, values: SiteValues) -> None:
        self.binary = binary
        self.prefix = prefix
        self.values = values
        self.process: subprocess.Popen[bytes] | None = None
        for sub in ("logs", "tmp", "conf"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        self.site = prefix / "conf" / "imagelist-market.conf"
        self.site.write_text(render_site(SHIPPED_CONF.read_text(), values))
        self.conf = prefix / "conf" / "nginx.conf"
        self.conf.write_text(main_conf(prefix, self.site))

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.values.https_port}"

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the rendered configuration."""
        return subprocess.run(
            [self.binary, "-t", "-p", str(self.prefix), "-c", str(self.conf)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )

    def start(self) -> Nginx:
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr
                err = stderr.read().decode(errors="replace") if stderr is not None else ""
                raise RuntimeError(f"nginx exited {self.process.returncode}: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.values.https_port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not listen within 15 s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def error_log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
