"""Attack: the subscription's Basic credentials follow a redirect to another port (17.6).

The fetcher sent the credentials to any URL on the same *host name*, so a list server that
redirects to ``http://same-host:other-port/`` (another user's service on a shared machine)
received them. Now they go only to the exact origin (scheme, host and port) of the
subscription URL: the other port gets the request without ``Authorization``, answers 401, the
update fails (exit 10) and the database is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.conftest import database_url, site  # noqa: F401
from tests.subscriber.support import Site, make_image, make_list, sign

USER, PASSWORD = "token", "s3cret-Passw0rd"


@pytest.fixture
def other_port() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


def _authorization(server: HttpServer, path: str) -> list[str | None]:
    return [
        {k.lower(): v for k, v in record.headers.items()}.get("authorization")
        for record in server.requests_for(path)
    ]


def test_credentials_do_not_follow_a_redirect_to_another_port(
    site: Site,  # noqa: F811
    test_pki: TestPki,
    other_port: HttpServer,
) -> None:
    with HttpServer() as origin:
        site.register("endorser-1", test_pki.good)
        imagelist = make_list(test_pki.good, uri=origin.url("/l"), images=[make_image("a")])
        signed = sign(imagelist, test_pki.good)
        origin.put("/l", signed, auth=(USER, PASSWORD))
        url = origin.url("/l").replace("://", f"://{USER}:{PASSWORD}@")
        assert site.subscribe("-s", url).code == 0
        assert site.subscribe("-U").code == 0
        assert _authorization(origin, "/l")[-1] is not None, "the origin gets the credentials"
        # the list moves behind a redirect to the same host, another port
        assert origin.host == other_port.host
        origin.put("/l", status=302, location=other_port.url("/l"))
        other_port.put("/l", signed, auth=(USER, PASSWORD))
        before = site.snapshot()
        result = site.subscribe("-U")
        assert result.code == 10, (result.out, result.err)
        assert "HTTP 401" in result.out
        assert PASSWORD not in result.out + result.err
        assert site.snapshot() == before
        assert _authorization(other_port, "/l") == [None], "no credentials to another port"


def test_credentials_follow_a_redirect_within_the_origin(
    site: Site,  # noqa: F811
    test_pki: TestPki,
) -> None:
    """The control: a redirect to another path of the same origin keeps them."""
    with HttpServer() as origin:
        site.register("endorser-1", test_pki.good)
        imagelist = make_list(test_pki.good, uri=origin.url("/l"), images=[make_image("a")])
        origin.put("/l", status=302, location=origin.url("/moved"))
        origin.put("/moved", sign(imagelist, test_pki.good), auth=(USER, PASSWORD))
        url = origin.url("/l").replace("://", f"://{USER}:{PASSWORD}@")
        result = site.subscribe("-s", url)
        assert result.code == 0, (result.out, result.err)
        assert _authorization(origin, "/moved")[-1] is not None
