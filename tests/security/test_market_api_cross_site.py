"""A client certificate does not authorise a change asked for by another site (CSRF).

Behind the shipped nginx (``ssl_verify_client optional`` on the whole host) a browser shows
its IGTF certificate to every request for the market, also to a form another site makes it
post. Body-less API changes (publish, archive, start a check, revert or publish a VO draft)
were then made in the certificate holder's name. A browser says where a request comes from
(``Origin``, ``Sec-Fetch-Site``): a certificate-authenticated change from another origin is
refused with 403, one line, the database unchanged (SQLite and PostgreSQL). A token is no
ambient credential and stays usable from anywhere; a client without those headers (curl,
vmcaster) and a page of the market itself are not affected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.market.support import Market, certificate_headers, running_market, settings_for, snapshot
from tests.pki import TestPki

PROXY = ("127.0.0.1", 40000)
VO = "vo.example.org"
BASE = "https://market.example.org"
REVERT = f"/api/v1/vos/{VO}/list/draft/revert"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def market(database_url: str, tmp_path: Path, test_pki: TestPki) -> Iterator[Market]:
    settings = settings_for(
        tmp_path, database_url, trusted_proxies=("127.0.0.1/32",), public_base_url=BASE
    )
    with running_market(settings, client=PROXY) as running:
        good = test_pki.good
        running.person("manny", dn=good.subject_oneline, issuer=good.issuer_oneline)
        running.vo(VO, "manny")
        yield running


@pytest.mark.parametrize(
    "where",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://market.example.org"},  # not the https origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_cross_site_change_by_certificate_is_refused(
    market: Market, test_pki: TestPki, where: dict[str, str]
) -> None:
    before = snapshot(market.engine)
    answer = market.call(
        "POST", REVERT, headers={**certificate_headers(test_pki.good), **FORM, **where}
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "forbidden"
    assert "cross-site" in answer.json()["detail"]
    assert "\n" not in answer.json()["detail"]
    assert snapshot(market.engine) == before


@pytest.mark.parametrize(
    "where",
    [
        {},  # curl, vmcaster: no browser headers
        {"Origin": BASE},
        {"Origin": BASE, "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed by the user
    ],
)
def test_the_same_origin_and_non_browsers_still_work(
    market: Market, test_pki: TestPki, where: dict[str, str]
) -> None:
    answer = market.call("POST", REVERT, headers={**certificate_headers(test_pki.good), **where})
    assert answer.status_code == 200, answer.text


def test_reads_and_tokens_are_not_affected(market: Market, test_pki: TestPki) -> None:
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    me = market.call("GET", "/api/v1/me", headers={**certificate_headers(test_pki.good), **evil})
    assert me.status_code == 200
    assert me.json()["via"] == "x509"
    assert market.call("POST", REVERT, "manny", headers=evil).status_code == 200
