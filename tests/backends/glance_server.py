"""A real OpenStack Glance for the tests: PyPI ``glance`` under gunicorn on 127.0.0.1.

``.ci/glance-setup`` installs Glance into its own virtualenv (``.venv-glance``, or
``$IMAGELIST_GLANCE_VENV``). :func:`start_glance` writes ``glance-api.conf`` and a paste
pipeline into a temporary directory (SQLite database, file store, no Keystone: the test-only
``glance_fake_auth`` filter turns ``fake:<project>:<roles>`` tokens into Keystone's identity
headers), runs ``glance-manage db_sync``, starts gunicorn and waits until Glance answers. It
writes a ``clouds.yaml`` whose clouds use openstacksdk's ``admin_token`` auth with the Glance
endpoint, so the backend connects exactly as it does at a site.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_ENV = "IMAGELIST_GLANCE_VENV"
#: Projects of the test clouds: the site's image project (admin), two VO projects, and an
#: unprivileged tenant that plants look-alike images (tests/security).
PROJECTS = {
    "imagelist-test": "ops",
    "vo1-member": "vo1",
    "vo2-member": "vo2",
    "intruder": "evil",
}


class GlanceUnavailable(Exception):
    """Glance is not installed or would not start (the reason is the message)."""


def glance_venv() -> Path:
    return Path(os.environ.get(VENV_ENV) or ROOT / ".venv-glance")


_PASTE = """\
[composite:glance-api]
paste.composite_factory = glance.api:root_app_factory
/: api
/healthcheck: healthcheck

[composite:api]
paste.composite_factory = glance.api:pipeline_factory
default = http_proxy_to_wsgi versionnegotiation fakeauth context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = {base}/healthcheck_disable

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:fakeauth]
paste.filter_factory = glance_fake_auth:filter_factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
"""

_CONF = """\
[DEFAULT]
enabled_backends = fs:file
worker_self_reference_url = http://127.0.0.1:{port}
log_file = {base}/glance-api.log

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = {base}/images

[os_glance_staging_store]
filesystem_store_datadir = {base}/staging

[os_glance_tasks_store]
filesystem_store_datadir = {base}/tasks

[database]
connection = sqlite:///{base}/glance.sqlite

[paste_deploy]
config_file = {base}/glance-api-paste.ini
flavor =

[oslo_policy]
enforce_scope = false
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class GlanceServer:
    """One running Glance: its URL, its directory and the clouds.yaml that reaches it."""

    venv: Path
    base: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0
    clouds: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def clouds_yaml(self) -> Path:
        return self.base / "clouds.yaml"

    def log_tail(self, lines: int = 15) -> str:
        text = ""
        for name in ("gunicorn.log", "glance-api.log"):
            path = self.base / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return text

    def start(self, timeout: float = 90.0) -> None:
        started = time.monotonic()
        env = {
            **os.environ,
            "OS_GLANCE_CONFIG_DIR": str(self.base),
            "PYTHONPATH": str(Path(__file__).resolve().parent),
        }
        with (self.base / "gunicorn.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(self.venv / "bin" / "gunicorn"),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--timeout",
                    "300",
                    "glance.wsgi.api:application",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise GlanceUnavailable(f"gunicorn exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    pass
            except urllib.error.HTTPError as exc:
                if exc.code == 300:  # the versions document: Glance is up
                    self.startup_seconds = time.monotonic() - started
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise GlanceUnavailable(f"Glance did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def _write_clouds(server: GlanceServer) -> None:
    lines = ["clouds:"]
    for cloud, project in PROJECTS.items():
        roles = "admin,member,reader" if project == "ops" else "member,reader"
        server.clouds[cloud] = project
        lines += [
            f"  {cloud}:",
            "    auth_type: admin_token",
            "    auth:",
            f"      endpoint: {server.url}/v2",
            f'      token: "fake:{project}:{roles}"',
        ]
    server.clouds_yaml.write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def start_glance(base: Path) -> Iterator[GlanceServer]:
    """A running Glance in ``base`` (GlanceUnavailable if it cannot be had)."""
    venv = glance_venv()
    for tool in ("gunicorn", "glance-manage"):
        if not (venv / "bin" / tool).exists():
            raise GlanceUnavailable(f"{venv}/bin/{tool} missing: run .ci/glance-setup")
    port = _free_port()
    for sub in ("images", "staging", "tasks"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "glance-api-paste.ini").write_text(_PASTE.format(base=base))
    conf = _CONF.format(base=base, port=port)
    (base / "glance-api.conf").write_text(conf)
    (base / "glance-manage.conf").write_text(conf)
    sync = subprocess.run(
        [
            str(venv / "bin" / "glance-manage"),
            "--config-file",
            str(base / "glance-manage.conf"),
            "db_sync",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if sync.returncode != 0:
        raise GlanceUnavailable(f"glance-manage db_sync failed: {sync.stderr.strip()[-500:]}")
    server = GlanceServer(venv, base, port)
    _write_clouds(server)
    server.start()
    try:
        yield server
    finally:
        server.stop()
