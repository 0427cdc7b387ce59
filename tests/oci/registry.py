"""A real OCI registry for tests: Debian's ``docker-registry`` (CNCF distribution) on 127.0.0.1.

:class:`TestRegistry` writes a config under a tmp directory (storage there too), starts
``docker-registry serve`` on a free port, waits for ``/v2/`` and stops it at the end. One variant
serves TLS with a certificate of the test PKI and asks for htpasswd (bcrypt) credentials.
:func:`push_image` pushes an artifact in EGI's layout (empty config, one
``application/x-qemu-disk`` layer with annotations, two tags) with our own client.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from imagelist.oci.access import RegistryAccess
from imagelist.oci.client import RegistryClient
from imagelist.oci.manifest import Descriptor
from imagelist.oci.push import EMPTY_CONFIG, build_manifest, push_blob, push_file, push_manifest
from tests.peers import peer_binary

REGISTRY_BINARY = "docker-registry"
USERNAME = "robot"
PASSWORD = "s3cret-pw"

#: EGI's annotations (fedcloud-vmi-templates upload.sh), for the layer.
EGI_LAYER_ANNOTATIONS = {
    "org.opencontainers.image.title": "ubuntu-24.04.qcow2",
    "org.openstack.glance.os_distro": "ubuntu",
    "org.openstack.glance.os_version": "24.04",
    "org.openstack.glance.os_type": "linux",
    "org.openstack.glance.architecture": "x86_64",
    "org.openstack.glance.disk_format": "qcow2",
    "org.openstack.glance.container_format": "bare",
    "eu.egi.cloud.description": "Ubuntu 24.04 LTS",
    "eu.egi.cloud.tag": "2025-10-07-1a2b3c4d",
}
EGI_MANIFEST_ANNOTATIONS = {
    "org.opencontainers.image.revision": "1a2b3c4d5e6f",
    "org.opencontainers.image.source": "https://github.com/EGI-Federation/fedcloud-vmi-templates",
}


def registry_binary() -> str:
    """The registry program, or skip (fail under IMAGELIST_REQUIRE_PEERS=1)."""
    return peer_binary(REGISTRY_BINARY, "docker-registry")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class TestRegistry:
    """A running registry; ``access`` reaches it (plain http, or TLS with the CA and creds)."""

    __test__ = False

    root: Path
    tls: tuple[bytes, bytes, bytes] | None = None  # cert, key, CA bundle
    auth: bool = False
    #: an ``auth:`` block of the registry config instead of htpasswd (e.g. token auth)
    auth_config: str | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return self.root / "data"

    @property
    def ca_path(self) -> Path:
        return self.root / "ca.pem"

    @property
    def credentials_path(self) -> Path:
        return self.root / "credentials.toml"

    def access(self, *, credentials: bool = True) -> RegistryAccess:
        if self.tls is None:
            return RegistryAccess(plain_http=frozenset({self.host}))
        return RegistryAccess(self.credentials_path if credentials else None, self.ca_path)

    def environment(self, *, credentials: bool = True) -> dict[str, str]:
        """The IMAGELIST_OCI_* variables the cache reads to reach this registry."""
        if self.tls is None:
            return {"IMAGELIST_OCI_PLAIN_HTTP": self.host}
        env = {"IMAGELIST_OCI_CA_BUNDLE": str(self.ca_path)}
        if credentials:
            env["IMAGELIST_OCI_CREDENTIALS"] = str(self.credentials_path)
        return env

    def client(self, *, credentials: bool = True) -> RegistryClient:
        return RegistryClient(self.host, self.access(credentials=credentials))

    def blob_path(self, digest: str) -> Path:
        hex_digest = digest.removeprefix("sha256:")
        return (
            self.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"
        )

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log: {level: error, accesslog: {disabled: true}}",
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, "
            "delete: {enabled: true}}",
        ]
        http = f"addr: {self.host}"
        if self.tls is not None:
            cert, key, ca = self.tls
            (self.root / "cert.pem").write_bytes(cert)
            (self.root / "key.pem").write_bytes(key)
            self.ca_path.write_bytes(ca)
            http += (
                f", tls: {{certificate: {self.root / 'cert.pem'}, key: {self.root / 'key.pem'}}}"
            )
        lines.append(f"http: {{{http}}}")
        if self.auth:
            import bcrypt

            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
            (self.root / "htpasswd").write_text(f"{USERNAME}:{hashed}\n")
            lines.append(
                f"auth: {{htpasswd: {{realm: test-realm, path: {self.root / 'htpasswd'}}}}}"
            )
            self.credentials_path.write_text(
                f'["{self.host}"]\nusername = "{USERNAME}"\npassword = "{PASSWORD}"\n'
            )
            self.credentials_path.chmod(0o600)
        if self.auth_config is not None:
            lines.append(f"auth: {self.auth_config}")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        binary = registry_binary()
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(self._config())
        log = (self.root / "registry.log").open("wb")
        self.process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        scheme = "https" if self.tls else "http"
        verify: str | bool = str(self.ca_path) if self.tls else False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited: {(self.root / 'registry.log').read_text()}"
                )
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(f"{scheme}://{self.host}/v2/", verify=verify, timeout=1)
                if answer.status_code in (200, 401):
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not answer within 20 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def running_registry(
    root: Path,
    *,
    tls: tuple[bytes, bytes, bytes] | None = None,
    auth: bool = False,
    auth_config: str | None = None,
) -> Iterator[TestRegistry]:
    registry = TestRegistry(root, tls=tls, auth=auth, auth_config=auth_config)
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()


@dataclass(frozen=True)
class Pushed:
    """An artifact in the registry: its manifest digest, disk layer and reference."""

    registry: str
    repository: str
    digest: str
    layer: Descriptor
    manifest: bytes

    @property
    def uri(self) -> str:
        return f"oci://{self.registry}/{self.repository}@{self.digest}"


def push_image(
    client: RegistryClient,
    repository: str,
    disk: Path,
    tags: Sequence[str] = ("24.04",),
    *,
    layer_annotations: Mapping[str, str] | None = None,
    media_type: str = "application/x-qemu-disk",
    extra_layers: Sequence[Descriptor] = (),
) -> Pushed:
    """Push ``disk`` in EGI's layout under each of ``tags``."""
    push_blob(client, repository, b"{}", EMPTY_CONFIG.media_type)
    annotations = dict(EGI_LAYER_ANNOTATIONS if layer_annotations is None else layer_annotations)
    layer = push_file(client, repository, disk, media_type, annotations)
    body = build_manifest(
        EMPTY_CONFIG,
        [layer, *extra_layers],
        EGI_MANIFEST_ANNOTATIONS,
        artifact_type="application/vnd.unknown.artifact.v1",
    )
    digest = ""
    for tag in tags:
        digest = push_manifest(client, repository, body, tag)
    if not tags:
        digest = push_manifest(client, repository, body, _digest_of(body))
    return Pushed(client.registry, repository, digest, layer, body)


def _digest_of(body: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(body).hexdigest()
