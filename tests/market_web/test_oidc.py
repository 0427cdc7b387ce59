"""OIDC login against a real OpenID provider (panva/oidc-provider under node) on loopback.

The browser goes to the market's /login/oidc, logs in at the provider's own (development)
login form, consents, and comes back logged in; the identity is (issuer, sub).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from imagelist.db.market.models import Identity, Person
from tests.market_web.app import RunningApp, start_app
from tests.market_web.conftest import BrowserFactory, NginxFactory
from tests.market_web.nginx import REPO, free_port
from tests.market_web.pki import WebPki
from tests.peers import require_peer

PROVIDER_DIR = REPO / ".oidc-provider"
PROVIDER_MODULE = PROVIDER_DIR / "node_modules" / "oidc-provider" / "lib" / "index.js"
SCRIPT = Path(__file__).with_name("oidc") / "provider.mjs"


@pytest.fixture
def provider(site_port: int) -> Iterator[str]:
    """The provider's issuer URL; its client is ``market``/``s3cret`` for the site's callback."""
    node = shutil.which("node")
    if node is None or not PROVIDER_MODULE.exists():
        require_peer("oidc-provider", "node or .oidc-provider missing (run .ci/oidc-setup)")
    port = free_port()
    process = subprocess.Popen(
        [
            node,
            str(SCRIPT),
            str(port),
            "market",
            "s3cret",
            f"https://127.0.0.1:{site_port}/login/oidc/callback",
        ],
        env={"OIDC_PROVIDER_MODULE": PROVIDER_MODULE.as_uri(), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and not line.startswith("ready"):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                pytest.fail(f"the OpenID provider exited {process.returncode}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def oidc_market(
    tmp_path: Path,
    web_pki: WebPki,
    site_port: int,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RunningApp]:
    secret = tmp_path / "oidc-secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    monkeypatch.setenv("IMAGELIST_MARKET_OIDC_ISSUER", provider)
    monkeypatch.setenv("IMAGELIST_MARKET_OIDC_CLIENT_ID", "market")
    monkeypatch.setenv("IMAGELIST_MARKET_OIDC_CLIENT_SECRET_FILE", str(secret))
    monkeypatch.setenv("IMAGELIST_MARKET_OIDC_LABEL", "Test Check-in")
    running = start_app(tmp_path / "market", public_base_url=f"https://127.0.0.1:{site_port}")
    try:
        yield running
    finally:
        running.stop()


def test_oidc_login_through_a_real_provider(
    oidc_market: RunningApp,
    provider: str,
    nginx_factory: NginxFactory,
    site_port: int,
    browser_factory: BrowserFactory,
) -> None:
    site = nginx_factory(oidc_market.address, oidc_market.settings.data_dir, site_port)
    driver = browser_factory(None, site.base_url).driver
    assert driver is not None
    driver.get(site.base_url + "/login")
    driver.find_element(By.ID, "login-oidc").click()
    WebDriverWait(driver, 20).until(lambda d: d.current_url.startswith(provider))
    driver.find_element(By.NAME, "login").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys("any")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 20).until(
        lambda d: (
            "/interaction/" in d.current_url
            and d.find_elements(By.CSS_SELECTOR, "button[type=submit]")
        )
    )
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.XPATH, "//nav/a[@href='/me']"))
    assert driver.find_element(By.XPATH, "//nav/a[@href='/me']").text == "OIDC alice"
    with oidc_market.sessions() as session:
        rows = session.execute(
            select(
                Person.display_name, Person.email, Identity.kind, Identity.subject, Identity.issuer
            ).join(Identity)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("OIDC alice", "alice@example.org", "oidc", "alice", provider)
    ]


def test_oidc_callback_with_a_forged_state_logs_nobody_in(
    oidc_market: RunningApp, provider: str
) -> None:
    answer = httpx.get(
        f"http://{oidc_market.address}/login/oidc/callback",
        params={"code": "stolen", "state": "made-up"},
    )
    assert answer.status_code == 401
    assert "the OIDC login failed" in answer.text
    with oidc_market.sessions() as session:
        assert session.scalars(select(Person)).all() == []
