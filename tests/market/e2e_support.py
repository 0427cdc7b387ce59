"""Real processes for the marketplace end-to-end tests: the market under uvicorn (https on
127.0.0.1), its admin CLI, the endorser's vmcaster and the site's vmcatcher_* commands.

Every path is under the test's tmp_path; every server binds 127.0.0.1 on a free port and is
stopped by its fixture.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from imagelist.publisher.store import PublisherStore
from tests.httpserver import make_server_certificate
from tests.market.pubsupport import service_credential
from tests.pki import TestPki

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Run:
    rc: int
    out: str
    err: str


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 180) -> Run:
    """One real process (no shell); its exit code and output."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **env}
    done = subprocess.run(
        argv, env=full, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout
    )
    return Run(done.returncode, done.stdout, done.stderr)


@dataclass
class MarketProcess:
    """``imagelist-market`` data under ``home``, served by uvicorn over https."""

    home: Path
    port: int
    env: dict[str, str]
    ca_bundle: Path
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        """The admin CLI (a real process); its stdout, or AssertionError."""
        done = run([str(BIN / "imagelist-market"), *args], self.env, self.home)
        assert done.rc == 0, f"imagelist-market {' '.join(args)}: {done.err}"
        return done.out

    def person(self, name: str, *scopes: str, dn: str | None = None, ca: str | None = None) -> None:
        person_id = int(self.cli("person", "create", name).strip())
        self.people[name] = person_id
        if dn is not None and ca is not None:
            self.cli("identity", "add", str(person_id), "--dn", dn, "--issuer", ca)
        args = [arg for scope in scopes or ("market:write",) for arg in ("--scope", scope)]
        self.tokens[name] = self.cli(
            "token", "create", str(person_id), "--name", f"{name}-token", *args
        ).strip()

    def call(
        self, method: str, path: str, who: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return requests.request(
            method,
            self.base + path,
            headers=headers,
            verify=str(self.ca_bundle),
            timeout=60,
            **kwargs,
        )

    def start(self, cert: Path, key: Path) -> None:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "imagelist.market.worker:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ssl-certfile",
            str(cert),
            "--ssl-keyfile",
            str(key),
            "--log-level",
            "warning",
        ]
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.env}
        log = (self.home / "uvicorn.log").open("wb")
        self.process = subprocess.Popen(
            argv, env=full, cwd=self.home, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError((self.home / "uvicorn.log").read_text())
            with contextlib.suppress(requests.RequestException):
                if self.call("GET", "/healthz").status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError("the market did not answer /healthz within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def running_market(base: Path, test_pki: TestPki, **settings: str) -> Iterator[MarketProcess]:
    """A market with the service certificate of the test PKI, over https on a free port."""
    home = base / "market"
    home.mkdir(parents=True)
    service_cert, service_key = service_credential(test_pki).write(home / "service")
    tls_cert, tls_key = make_server_certificate(test_pki.intermediate)
    (home / "tls").mkdir()
    (home / "tls" / "cert.pem").write_bytes(tls_cert + test_pki.intermediate.cert_pem)
    (home / "tls" / "key.pem").write_bytes(tls_key)
    (home / "tls" / "key.pem").chmod(0o600)
    bundle = home / "tls" / "ca.pem"
    bundle.write_bytes(test_pki.root.cert_pem + test_pki.intermediate.cert_pem)
    port = free_port()
    env = {
        "HOME": str(home),
        "IMAGELIST_MARKET_HOME": str(home),
        "IMAGELIST_MARKET_SIGNER_CERT": str(service_cert),
        "IMAGELIST_MARKET_SIGNER_KEY": str(service_key),
        "IMAGELIST_MARKET_CA_DIR": str(test_pki.trust_dir),
        "IMAGELIST_MARKET_PUBLIC_BASE_URL": f"https://127.0.0.1:{port}",
        "IMAGELIST_MARKET_RUN_JOBS": "1",
        "IMAGELIST_MARKET_INTEGRITY_ALLOW_HTTP": "1",
        **{f"IMAGELIST_MARKET_{key.upper()}": value for key, value in settings.items()},
    }
    market = MarketProcess(home, port, env, bundle)
    market.cli("db", "upgrade")
    market.start(home / "tls" / "cert.pem", home / "tls" / "key.pem")
    try:
        yield market
    finally:
        market.stop()


# --- the endorser -----------------------------------------------------------------------------


@dataclass
class Endorser:
    """vmcaster's database, configuration and credentials for one list."""

    base: Path
    list_id: str
    env: dict[str, str]

    @property
    def store(self) -> PublisherStore:
        from imagelist.db.publisher import open_database

        return PublisherStore(open_database(self.env["VMCASTER_RDBMS"]))

    def set_image(self, image: str, keys: dict[str, str]) -> None:
        store = self.store
        try:
            if image not in store.identifiers("image"):
                store.add("image", image)
                store.link("image", self.list_id, image)
            store.set_keys("image", image, keys)
        finally:
            store.engine.dispose()

    def upload(self) -> Run:
        return run(
            [str(BIN / "vmcaster"), "--upload-imagelist", "--select-imagelist", self.list_id],
            self.env,
            self.base,
        )


def make_endorser(
    base: Path, test_pki: TestPki, market: MarketProcess, slug: str, token: str
) -> Endorser:
    """An endorser (test_pki.good) whose list is the appliance ``slug`` on ``market``."""
    base.mkdir(parents=True)
    list_id = "6a5b7c3e-1d2f-4e8a-9b0c-112233445566"
    database = f"sqlite:///{base / 'vmcaster.db'}"
    from imagelist.db.publisher import open_database

    store = PublisherStore(open_database(database))
    try:
        store.add("imagelist", list_id)
        store.set_keys(
            "imagelist",
            list_id,
            {
                "dc:title": "AlmaLinux 9 by Ann",
                "dc:description": "endorsed AlmaLinux 9 images",
                "dc:source": "https://ann.example.org/",
                "hv:uri": f"{market.base}/store/vappliance/{slug}/image.list",
            },
        )
        good = test_pki.good
        store.add("endorser", good.subject_oneline)
        store.set_keys(
            "endorser",
            good.subject_oneline,
            {"dc:creator": "Ann", "hv:ca": good.issuer_oneline, "hv:email": "ann@example.org"},
        )
        store.link("endorser", list_id, good.subject_oneline)
    finally:
        store.engine.dispose()
    token_file = base / "market.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    escaped = market.base.replace(".", "\\\\.")
    (base / "vmcaster.cfg").write_text(
        "[market]\n"
        'server = "127.0.0.1"\n'
        'protocol = "marketplace"\n'
        f'uriMatch = "{escaped}/store/vappliance/([a-z0-9._-]+)/image\\\\.list"\n'
        f'uriReplace = "{market.base}/api/v1/appliances/\\\\1/versions/import"\n'
        f'token_file = "{token_file}"\n'
        f'ca_file = "{market.ca_bundle}"\n'
    )
    env = {
        "HOME": str(base),
        "VMCASTER_RDBMS": database,
        "VMCASTER_CFG": str(base / "vmcaster.cfg"),
        "VMCASTER_X509_CERT": str(test_pki.cert_path("good")),
        "VMCASTER_X509_KEY": str(test_pki.key_path("good")),
    }
    return Endorser(base, list_id, env)


# --- the site ---------------------------------------------------------------------------------


@dataclass
class SiteProcess:
    """A vmcatcher site: database, trust directory and cache under ``base``."""

    base: Path
    env: dict[str, str]

    def run(self, command: str, *args: str) -> Run:
        return run([str(BIN / command), *args], self.env, self.base)

    def ok(self, command: str, *args: str) -> str:
        done = self.run(command, *args)
        assert done.rc == 0, f"{command} {' '.join(args)}: rc {done.rc}: {done.err}"
        return done.out

    @property
    def cache(self) -> Path:
        return self.base / "cache"


def make_site(base: Path, test_pki: TestPki) -> SiteProcess:
    base.mkdir(parents=True)
    (base / "cache").mkdir()
    return SiteProcess(
        base,
        {
            "HOME": str(base),
            "VMCATCHER_RDBMS": f"sqlite:///{base / 'vmcatcher.db'}",
            "VMCATCHER_DIR_CERT": str(test_pki.trust_dir),
            "VMCATCHER_CACHE_DIR_CACHE": str(base / "cache"),
        },
    )
