"""Bearer challenges (as Harbor answers): docker-registry with token auth, a token realm over https.

The registry verifies a real ES256 JWT whose x5c certificate chains to its root bundle; the
token service is the test HTTP server over TLS handing out that token. Our client answers the
``Bearer realm=…,service=…,scope=…`` challenge, pulls by digest, and never sends the token to
another origin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from imagelist.oci.access import RegistryAccess
from imagelist.oci.client import RegistryClient
from imagelist.oci.describe import describe_image
from imagelist.oci.reference import parse_reference
from tests.httpserver import HttpServer, Resource, make_server_certificate, server_tls_context
from tests.oci.registry import TestRegistry, push_image, running_registry
from tests.pki import TestPki

REPO = "egi_vm_images/ubuntu"
SERVICE = "test-registry"
ISSUER = "test-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(test_pki: TestPki) -> str:
    """An ES256 JWT granting pull and push on REPO, signed by a key the root certifies."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token signer")]))
        .issuer_name(test_pki.root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(test_pki.root.cert.not_valid_before_utc)
        .not_valid_after(test_pki.root.cert.not_valid_after_utc)
        .sign(test_pki.root.key, hashes.SHA256())
    )
    header = {"typ": "JWT", "alg": "ES256", "x5c": [
        base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    ]}  # fmt: skip
    claims = {
        "iss": ISSUER,
        "sub": "robot",
        "aud": SERVICE,
        "exp": now + 3600,
        "nbf": now - 60,
        "iat": now,
        "jti": "t1",
        "access": [{"type": "repository", "name": REPO, "actions": ["pull", "push"]}],
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture
def token_server(test_pki: TestPki) -> Iterator[HttpServer]:
    cert, key = make_server_certificate(test_pki.root)
    with HttpServer(tls=server_tls_context(cert, key)) as server:
        body = json.dumps({"token": _token(test_pki), "expires_in": 3600}).encode()
        server.put("/token", Resource(body=body, content_type="application/json"))
        yield server


@pytest.fixture
def token_registry(
    tmp_path: Path, test_pki: TestPki, token_server: HttpServer
) -> Iterator[TestRegistry]:
    bundle = tmp_path / "token-root.pem"
    bundle.write_bytes(test_pki.root.cert.public_bytes(serialization.Encoding.PEM))
    auth = (
        f"{{token: {{realm: '{token_server.url('/token')}', service: {SERVICE}, "
        f"issuer: {ISSUER}, rootcertbundle: {bundle}}}}}"
    )
    with running_registry(tmp_path / "token-registry", auth_config=auth) as running:
        running.ca_path.write_bytes(bundle.read_bytes())
        yield running


def test_a_bearer_challenge_is_answered_and_the_pull_is_verified(
    token_registry: TestRegistry, token_server: HttpServer, disk: Path
) -> None:
    access = RegistryAccess(None, token_registry.ca_path, frozenset({token_registry.host}))
    client = RegistryClient(token_registry.host, access)
    pushed = push_image(client, REPO, disk)
    facts = describe_image(client, parse_reference(pushed.uri))
    assert facts.sha512 == hashlib.sha512(disk.read_bytes()).hexdigest()
    asked = [request.path for request in token_server.requests]
    assert asked
    assert all(path.startswith("/token?") for path in asked)
    assert "scope=repository%3Aegi_vm_images%2Fubuntu%3Apull" in asked[-1]
    assert all("authorization" not in {k.lower() for k in r.headers} for r in token_server.requests)
