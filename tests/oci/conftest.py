"""Fixtures of the OCI tests: a plain registry and a TLS + htpasswd registry, both real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.httpserver import make_server_certificate
from tests.oci.registry import TestRegistry, running_registry
from tests.pki import TestPki


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[TestRegistry]:
    """docker-registry over plain http on 127.0.0.1, no auth."""
    with running_registry(tmp_path / "registry") as running:
        yield running


@pytest.fixture
def tls_registry(tmp_path: Path, test_pki: TestPki) -> Iterator[TestRegistry]:
    """docker-registry over https (a test-PKI certificate) with htpasswd (bcrypt) auth."""
    from cryptography.hazmat.primitives.serialization import Encoding

    cert, key = make_server_certificate(test_pki.root)
    ca = test_pki.root.cert.public_bytes(Encoding.PEM)
    with running_registry(tmp_path / "tls-registry", tls=(cert, key, ca), auth=True) as running:
        yield running


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    """A small qcow2-looking disk image (not repetitive, 300 KiB)."""
    import hashlib

    path = tmp_path / "disk.qcow2"
    blocks = [hashlib.sha512(str(i).encode()).digest() for i in range(300 * 1024 // 64)]
    path.write_bytes(b"QFI\xfb" + b"".join(blocks)[4:])
    return path
