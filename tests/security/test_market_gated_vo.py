"""A token-gated VO list is read only with the scope ``vo:<vo>:read`` or a role in the VO.

``/store/vo/<vo>/`` and ``GET /api/v1/vos/<vo>/list`` refuse everyone else, so no other door may
show what the list holds: not the API to a client certificate (a certificate carries no token
scopes), not the VO page, the VO index, the catalogue's "Endorsed by VO" facet or an appliance
page. Every refused read leaves the database as it was; SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.httpserver import HttpServer
from tests.market.pubsupport import service_credential
from tests.market.support import Market, running_market, settings_for, snapshot
from tests.market.test_api_vos import _published_version
from tests.pki import TestPki

GATED = "secret.vo"
PROXY = ("127.0.0.1", 40000)


@pytest.fixture
def market(database_url: str, tmp_path: Path, test_pki: TestPki) -> Iterator[Market]:
    """A signing market that trusts its client (127.0.0.1) as the TLS proxy."""
    cert, key = service_credential(test_pki).write(tmp_path / "service")
    settings = settings_for(
        tmp_path,
        database_url,
        ca_dir=test_pki.trust_dir,
        signer_cert=cert,
        signer_key=key,
        trusted_proxies=("127.0.0.1/32",),
    )
    with running_market(settings, client=PROXY) as running:
        yield running


@pytest.fixture
def gated(market: Market, server: HttpServer) -> Market:
    """VO ``secret.vo`` (gated) has published a list holding appliance ``ubuntu``."""
    _published_version(market, server)
    market.person("manny")
    market.vo(GATED, "manny", gated=True)
    for step in ("draft/entries", "draft/publish"):
        body = {"appliance": "ubuntu"} if step == "draft/entries" else None
        answer = market.call("POST", f"/api/v1/vos/{GATED}/list/{step}", "manny", json=body)
        assert answer.status_code in (200, 201), answer.text
    return market


def _certificate(test_pki: TestPki) -> dict[str, str]:
    cert = test_pki.good.cert
    return {
        "X-SSL-Client-Verify": "SUCCESS",
        "X-SSL-Client-S-DN": cert.subject.rfc4514_string(),
        "X-SSL-Client-I-DN": cert.issuer.rfc4514_string(),
    }


@pytest.mark.parametrize("registered", [False, True])
def test_a_client_certificate_is_no_read_scope(
    gated: Market, test_pki: TestPki, registered: bool
) -> None:
    if registered:  # a person of the market, without a role in the VO
        good = test_pki.good
        gated.person("carol", dn=good.subject_oneline, issuer=good.issuer_oneline)
    before = snapshot(gated.engine)
    answer = gated.call("GET", f"/api/v1/vos/{GATED}/list", headers=_certificate(test_pki))
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "forbidden"
    assert "\n" not in answer.json()["detail"]
    assert "ubuntu" not in answer.text
    assert snapshot(gated.engine) == before
    # the scope and a role still open it
    assert gated.call("GET", f"/api/v1/vos/{GATED}/list", "manny").status_code == 200
