"""Fixtures for the marketplace web tests: the real nginx, chromium and an SMTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.market_web.app import RunningApp, start_app
from tests.market_web.browser import Browser, missing_browser_peer
from tests.market_web.nginx import Nginx, SiteValues, build_bundles, free_port, nginx_binary
from tests.market_web.pki import WebPki, build_web_pki
from tests.market_web.smtp import SmtpServer
from tests.peers import require_peer
from tests.pki import Credential, TestPki

NginxFactory = Callable[..., Nginx]
BrowserFactory = Callable[[Credential | None, str], Browser]


@pytest.fixture(scope="session")
def web_pki(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> WebPki:
    return build_web_pki(test_pki, tmp_path_factory.mktemp("web-pki"))


@pytest.fixture(scope="session")
def nginx_path() -> str:
    path = nginx_binary()
    if path is None:
        require_peer("nginx", "not installed (Debian package nginx)")
    return path


def start_nginx(
    binary: str,
    prefix: Path,
    web_pki: WebPki,
    upstream: str,
    data_dir: Path,
    https_port: int | None = None,
) -> Nginx:
    """Render the shipped configuration for ``upstream`` and start nginx under ``prefix``."""
    ca_bundle, crl_bundle = build_bundles(web_pki.pki.trust_dir, prefix / "igtf")
    values = SiteValues(
        https_port=https_port or free_port(),
        upstream=upstream,
        host_cert=web_pki.host_cert,
        host_key=web_pki.host_key,
        ca_bundle=ca_bundle,
        crl_bundle=crl_bundle,
        data_dir=data_dir,
    )
    return Nginx(binary, prefix, values).start()


@pytest.fixture
def nginx_factory(nginx_path: str, web_pki: WebPki, tmp_path: Path) -> Iterator[NginxFactory]:
    """Start nginx (the shipped configuration) in front of ``upstream``; stopped after the test."""
    started: list[Nginx] = []

    def factory(upstream: str, data_dir: Path, https_port: int | None = None) -> Nginx:
        prefix = tmp_path / f"nginx{len(started)}"
        proxy = start_nginx(nginx_path, prefix, web_pki, upstream, data_dir, https_port)
        started.append(proxy)
        return proxy

    try:
        yield factory
    finally:
        for proxy in started:
            proxy.stop()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests keep their screenshots (also copied to $IMAGELIST_TEST_ARTIFACTS)."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def browser_factory(web_pki: WebPki, screenshots: Path, tmp_path: Path) -> Iterator[BrowserFactory]:
    """``factory(person, origin)``: a started headless chromium presenting ``person``'s cert."""
    reason = missing_browser_peer()
    if reason is not None:
        require_peer("chromium", reason)
    started: list[Browser] = []

    def factory(person: Credential | None, origin: str) -> Browser:
        browser = Browser(
            directory=tmp_path / f"browser{len(started)}",
            root_pem=web_pki.root_pem,
            screenshots=screenshots,
            person=person,
            origin=origin,
        )
        started.append(browser)
        browser.start()
        return browser

    try:
        yield factory
    finally:
        for browser in started:
            browser.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; ``.mailbox.take()`` returns what arrived."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def site_port() -> int:
    """nginx's https port, chosen first: the market's public base URL names it."""
    return free_port()


@pytest.fixture
def market(tmp_path: Path, web_pki: WebPki, site_port: int) -> Iterator[RunningApp]:
    """The market application (create_app: API, /store, pages) on uvicorn at 127.0.0.1,
    trusting 127.0.0.1 as its proxy, signing with a service certificate of the test PKI."""
    cert, key = web_pki.service.write(tmp_path / "service")
    running = start_app(
        tmp_path / "market",
        ca_dir=web_pki.pki.trust_dir,
        signer_cert=cert,
        signer_key=key,
        public_base_url=f"https://127.0.0.1:{site_port}",
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def site(market: RunningApp, nginx_factory: NginxFactory, site_port: int) -> Nginx:
    """nginx (the shipped configuration) in front of ``market``, serving its data dir."""
    return nginx_factory(market.address, market.settings.data_dir, site_port)
