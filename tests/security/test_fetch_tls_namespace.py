"""Attack: any IGTF CA vouches for any https host (17.6).

The fetcher put every CA of the IGTF directory into its CA bundle, without the namespace
policies that limit what each may sign. A CA of the directory (here the test intermediate,
whose namespace is ``/DC=org/DC=imagelist-test/*``) could then issue ``/DC=org/DC=evil/CN=<host>``
for the subscribed host, and the site would talk to that server, sending it any credentials.
Now the server certificate must chain to the system CAs, or to the directory *and* be inside
its CA's namespace; otherwise the TLS connection is dropped before any request is sent: exit 10,
the database unchanged, the server has seen no request.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.httpserver import HttpServer, make_server_certificate, server_tls_context
from tests.pki import IgtfDirectory, TestPki
from tests.subscriber.conftest import database_url, site  # noqa: F401
from tests.subscriber.support import Site, World, build_world, make_image, make_list, sign

EVIL_SUBJECT = "/DC=org/DC=evil/CN=127.0.0.1"


def _context(test_pki: TestPki, subject: str | None = None) -> ssl.SSLContext:
    cert, key = make_server_certificate(test_pki.intermediate, subject=subject)
    return server_tls_context(cert, key, test_pki.intermediate.cert_pem)


@pytest.fixture
def tls_server(test_pki: TestPki) -> Iterator[HttpServer]:
    """An https server whose certificate is inside the issuing CA's namespace (legitimate)."""
    with HttpServer(tls=_context(test_pki)) as running:
        yield running


@pytest.fixture
def tls_world(site: Site, tls_server: HttpServer, test_pki: TestPki) -> World:  # noqa: F811
    return build_world(site, tls_server, test_pki.good)


def _all_requests(server: HttpServer) -> int:
    with server.lock:
        return len(server.requests)


def test_update_from_a_server_outside_the_namespace_is_refused(
    tls_world: World, test_pki: TestPki
) -> None:
    world = tls_world
    world.publish(world.make(version="2.0"))  # a valid list: only the server is wrong
    world.server.tls = _context(test_pki, EVIL_SUBJECT)
    seen = _all_requests(world.server)
    result = world.assert_refused(10)
    assert "certificate verify failed" in result.out
    assert f"server certificate subject {EVIL_SUBJECT} is outside the namespace of CA" in result.out
    assert _all_requests(world.server) == seen, "not one request reached the server"
    # the legitimate certificate is accepted again
    world.server.tls = _context(test_pki)
    assert world.update().code == 0


def test_subscribing_to_a_server_outside_the_namespace_is_refused(
    site: Site,  # noqa: F811
    test_pki: TestPki,
) -> None:
    with HttpServer(tls=_context(test_pki, EVIL_SUBJECT)) as server:
        site.register("endorser-1", test_pki.good)
        imagelist = make_list(test_pki.good, uri=server.url("/l"), images=[make_image("a")])
        server.put("/l", sign(imagelist, test_pki.good), auth=("user", "secret"))
        before = site.snapshot()
        url = server.url("/l").replace("://", "://user:secret@")
        result = site.subscribe("-s", url)
        assert result.code != 0
        assert "outside the namespace" in result.err + result.out
        assert "secret" not in result.err + result.out
        assert site.snapshot() == before
        assert _all_requests(server) == 0, "the credentials were never sent"


def test_a_ca_without_namespace_policy_vouches_for_no_server(
    database_url: str,  # noqa: F811
    test_pki: TestPki,
    tls_server: HttpServer,
    tmp_path: Path,
) -> None:
    directory = IgtfDirectory(tmp_path / "no-policy")
    for ca, crl in (
        (test_pki.root, test_pki.root_crl),
        (test_pki.intermediate, test_pki.intermediate_crl),
    ):
        directory.add_ca(ca, crl=crl, signing_policy=False, namespaces=False)
    bare = Site(database_url, directory.path)
    bare.register("endorser-1", test_pki.good)
    imagelist = make_list(test_pki.good, uri=tls_server.url("/l"), images=[make_image("a")])
    tls_server.put("/l", sign(imagelist, test_pki.good))
    before = bare.snapshot()
    result = bare.subscribe("-s", tls_server.url("/l"))
    assert result.code != 0
    assert "has no namespace policy" in result.err + result.out
    assert bare.snapshot() == before
    assert _all_requests(tls_server) == 0


def test_the_igtf_part_can_be_turned_off(tls_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """VMCATCHER_HTTPS_IGTF=no: only the system CAs, which do not know the test PKI."""
    world = tls_world
    world.publish(world.make(version="2.0"))
    monkeypatch.setenv("VMCATCHER_HTTPS_IGTF", "no")
    seen = _all_requests(world.server)
    result = world.assert_refused(10)
    assert "certificate verify failed" in result.out
    assert _all_requests(world.server) == seen
