"""Headless chromium presents a client certificate to the real nginx (no dialog, no download)."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.httpserver import HttpServer
from tests.market_web.conftest import BrowserFactory, NginxFactory
from tests.market_web.nginx import Nginx
from tests.market_web.pki import WebPki

PAGE = b"<!doctype html><title>t</title><p id=hello>hello</p>"


@pytest.fixture
def upstream() -> HttpServer:
    with HttpServer() as server:
        server.put("/login", PAGE, content_type="text/html")
        yield server


@pytest.fixture
def proxy(nginx_factory: NginxFactory, upstream: HttpServer, tmp_path: Path) -> Nginx:
    (tmp_path / "data").mkdir()
    return nginx_factory(f"127.0.0.1:{upstream.port}", tmp_path / "data")


def forwarded(upstream: HttpServer, name: str) -> list[str | None]:
    return [
        {k.lower(): v for k, v in r.headers.items()}.get(name)
        for r in upstream.requests_for("/login")
    ]


def test_browser_logs_in_with_its_certificate(
    browser_factory: BrowserFactory, proxy: Nginx, upstream: HttpServer, web_pki: WebPki
) -> None:
    driver = browser_factory(web_pki.endorser, proxy.base_url).driver
    assert driver is not None
    driver.get(proxy.base_url + "/login")
    assert driver.find_element(By.ID, "hello").text == "hello"
    assert set(forwarded(upstream, "x-ssl-client-verify")) == {"SUCCESS"}
    assert set(forwarded(upstream, "x-ssl-client-s-dn")) == {
        web_pki.endorser.cert.subject.rfc4514_string()
    }


def test_browser_without_certificate_is_anonymous(
    browser_factory: BrowserFactory, proxy: Nginx, upstream: HttpServer
) -> None:
    driver = browser_factory(None, proxy.base_url).driver
    assert driver is not None
    driver.get(proxy.base_url + "/login")
    assert driver.find_element(By.ID, "hello").text == "hello"
    assert set(forwarded(upstream, "x-ssl-client-verify")) == {"NONE"}
    assert set(forwarded(upstream, "x-ssl-client-s-dn")) == {None}


def test_revoked_certificate_is_stopped_at_the_proxy(
    browser_factory: BrowserFactory, proxy: Nginx, upstream: HttpServer, web_pki: WebPki
) -> None:
    driver = browser_factory(web_pki.revoked, proxy.base_url).driver
    assert driver is not None
    driver.get(proxy.base_url + "/login")
    assert "SSL certificate error" in driver.page_source
    assert upstream.requests_for("/login") == []
