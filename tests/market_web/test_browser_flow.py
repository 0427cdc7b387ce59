"""The marketplace as people use it: headless chromium, client certificates, the real nginx.

An endorser logs in with a certificate, registers an appliance, adds an image served by the
test HTTP server, verifies and publishes it; a VO manager adds it to the VO list and publishes;
the published lists are fetched through nginx and verified with ``openssl smime -verify``.
Screenshots of the main pages are kept (see the ``screenshots`` fixture).
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from collections.abc import Iterator

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select

from imagelist.db.market.models import Appliance, AuditEvent, Person
from imagelist.market.common import CLI
from imagelist.market.people import add_identity, create_person, create_vo, grant_role
from tests.httpserver import HttpServer
from tests.market_web.app import RunningApp
from tests.market_web.conftest import BrowserFactory
from tests.market_web.nginx import Nginx
from tests.market_web.pki import WebPki
from tests.pki import openssl_smime_verify

IMAGE = os.urandom(256 * 1024)
FORGED = "the form is stale or forged"


@pytest.fixture
def images() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.put("/images/centos.qcow2", IMAGE)
        yield server


@pytest.fixture
def biomed(market: RunningApp, web_pki: WebPki) -> None:
    """VO biomed, managed by Vera (whose certificate is registered by the admin CLI)."""
    with market.sessions() as session:
        vera = create_person(session, CLI, "Vera Manager", "vera@example.org")
        add_identity(
            session,
            CLI,
            vera.id,
            "x509",
            web_pki.manager.subject_oneline,
            web_pki.manager.issuer_oneline,
        )
        create_vo(session, CLI, "biomed", "Biomedical research")
        grant_role(session, CLI, "biomed", vera.id, "manager")
        session.commit()


def log_in(driver: WebDriver, site: Nginx) -> None:
    driver.get(site.base_url + "/login")
    driver.find_element(By.ID, "login-x509").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.XPATH, "//nav/a[@href='/me']"))


def fill(driver: WebDriver, values: dict[str, str]) -> None:
    """Type into each field, waiting for it to appear: the click before a fill submits a form,
    and the browser may still show the old page when the fill starts."""
    for element_id, value in values.items():
        field = WebDriverWait(driver, 30, poll_frequency=0.2).until(
            lambda d, element_id=element_id: d.find_element(By.ID, element_id)
        )
        field.clear()
        field.send_keys(value)


def wait_for_page_text(driver: WebDriver, text: str, timeout: float = 30) -> None:
    """Wait until the page (after a form post and its redirect) shows ``text``."""
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: text in d.page_source)


def wait_text(driver: WebDriver, element_id: str, text: str, timeout: float = 90) -> None:
    def found(d: WebDriver) -> bool:
        try:
            elements = d.find_elements(By.ID, element_id)
            return bool(elements) and elements[0].text == text
        except StaleElementReferenceException:  # HTMX swapped it while we read it
            return False

    WebDriverWait(driver, timeout, poll_frequency=0.5).until(found)


def fetch(url: str, web_pki: WebPki) -> bytes:
    import ssl

    context = ssl.create_default_context(cafile=str(web_pki.root_pem))
    with urllib.request.urlopen(url, context=context, timeout=30) as response:
        body: bytes = response.read()
        return body


def test_endorser_publishes_and_vo_manager_endorses(
    browser_factory: BrowserFactory,
    site: Nginx,
    market: RunningApp,
    web_pki: WebPki,
    images: HttpServer,
    biomed: None,
    openssl: str,
) -> None:
    endorser = browser_factory(web_pki.endorser, site.base_url)
    driver = endorser.driver
    assert driver is not None
    driver.get(site.base_url + "/login")
    endorser.screenshot("login")
    log_in(driver, site)

    driver.find_element(By.ID, "new-appliance").click()
    fill(driver, {"slug": "centos9", "title": "CentOS Stream 9", "description": "Minimal."})
    driver.find_element(By.ID, "create-appliance").click()
    fill(driver, {"version": "1.0", "notes": "First release"})
    Select(driver.find_element(By.ID, "expires")).select_by_value("6")
    driver.find_element(By.ID, "create-version").click()

    fill(
        driver,
        {
            "img-title": "CentOS Stream 9 minimal",
            "img-uri": images.url("/images/centos.qcow2"),
            "img-hv": "KVM",
            "img-osn": "CentOS Stream",
            "img-osv": "9",
            "img-size": str(len(IMAGE)),
            "img-sha": hashlib.sha512(IMAGE).hexdigest(),
            "img-cmin": "1",
            "img-rmin": "1024",
        },
    )
    driver.find_element(By.ID, "add-image").click()
    wait_for_page_text(driver, "Image added.")
    endorser.screenshot("version-editor")
    driver.find_element(By.ID, "verify-publish").click()
    wait_text(driver, "version-state", "published")
    assert images.hits("/images/centos.qcow2") >= 1
    endorser.screenshot("version-published")

    driver.get(site.base_url + "/appliances/centos9")
    assert "Published version 1.0" in driver.page_source
    history = driver.find_element(By.ID, "history").find_element(By.XPATH, "..").text
    assert "Good Endorser" in history
    assert "version.publish" in history
    endorser.screenshot("appliance")

    manager = browser_factory(web_pki.manager, site.base_url)
    mdriver = manager.driver
    assert mdriver is not None
    log_in(mdriver, site)
    mdriver.get(site.base_url + "/vos/biomed")
    Select(mdriver.find_element(By.ID, "add-appliance")).select_by_value("centos9")
    mdriver.find_element(By.ID, "add-entry").click()
    wait_for_page_text(mdriver, "added centos9 1.0")
    assert "added centos9 1.0" in mdriver.find_element(By.ID, "diff").text
    mdriver.find_element(By.ID, "publish-vo").click()
    WebDriverWait(mdriver, 30, poll_frequency=0.2).until(
        lambda d: (
            "The VO list is published." in d.page_source or d.find_elements(By.CLASS_NAME, "error")
        )
    )
    errors = mdriver.find_elements(By.CLASS_NAME, "error")
    assert not errors, errors[0].text
    assert "The VO list is published." in mdriver.page_source
    published = mdriver.find_element(By.ID, "published").find_element(By.XPATH, "..").text
    assert "CentOS Stream 9" in published
    vo_history = mdriver.find_element(By.ID, "history").find_element(By.XPATH, "..").text
    assert "Vera Manager" in vo_history
    assert "volist.publish" in vo_history
    manager.screenshot("vo")

    mdriver.get(site.base_url + "/?vo=biomed")
    assert "CentOS Stream 9" in mdriver.page_source
    mdriver.get(site.base_url + "/")
    manager.screenshot("catalogue")
    mdriver.get(site.base_url + "/me")
    manager.screenshot("me")

    for path in ("/store/vo/biomed/image.list", "/store/vappliance/centos9/image.list"):
        signed = fetch(site.base_url + path, web_pki)
        checked = openssl_smime_verify(openssl, signed, web_pki.pki.trust_dir)
        assert checked.returncode == 0, checked.stderr.decode()
        document = json.loads(checked.stdout)["hv:imagelist"]
        assert document["hv:uri"] == site.base_url + path
        (image,) = document["hv:images"]
        assert image["hv:image"]["hv:uri"] == images.url("/images/centos.qcow2")
        assert image["hv:image"]["sl:checksum:sha512"] == hashlib.sha512(IMAGE).hexdigest()


def test_user_without_role_sees_no_edit_controls(
    browser_factory: BrowserFactory,
    site: Nginx,
    market: RunningApp,
    web_pki: WebPki,
    images: HttpServer,
    biomed: None,
) -> None:
    endorser = browser_factory(web_pki.endorser, site.base_url).driver
    assert endorser is not None
    log_in(endorser, site)
    endorser.get(site.base_url + "/appliances/new")
    fill(endorser, {"slug": "debian", "title": "Debian 12"})
    endorser.find_element(By.ID, "create-appliance").click()
    fill(endorser, {"version": "0.1"})
    endorser.find_element(By.ID, "create-version").click()
    draft_url = endorser.current_url

    visitor = browser_factory(web_pki.visitor, site.base_url).driver
    assert visitor is not None
    log_in(visitor, site)
    visitor.get(site.base_url + "/appliances/debian")
    assert "Debian 12" in visitor.page_source
    for control in ("create-version", "new-version-form"):
        assert visitor.find_elements(By.ID, control) == []
    assert "0.1" not in visitor.find_element(By.ID, "versions").find_element(By.XPATH, "..").text
    visitor.get(draft_url)
    assert visitor.find_elements(By.ID, "add-image-form") == []
    assert visitor.find_elements(By.ID, "verify") == []
    visitor.get(site.base_url + "/vos/biomed")
    for control in ("add-entry-form", "publish-vo", "revert-vo"):
        assert visitor.find_elements(By.ID, control) == []


def test_forged_cross_site_form_post_is_refused(
    browser_factory: BrowserFactory,
    site: Nginx,
    market: RunningApp,
    web_pki: WebPki,
    images: HttpServer,
) -> None:
    browser = browser_factory(web_pki.endorser, site.base_url)
    driver = browser.driver
    assert driver is not None
    log_in(driver, site)
    # Another site makes the logged-in browser post a form to the market.
    images.put(
        "/evil.html",
        (
            "<!doctype html><title>win a prize</title>"
            f'<form id="f" method="post" action="{site.base_url}/appliances/new">'
            '<input name="slug" value="evil"><input name="title" value="Evil">'
            '<input name="csrf_token" value="guessed-token-guessed-token-guessed-123">'
            "</form><script>document.getElementById('f').submit()</script>"
        ).encode(),
        content_type="text/html",
    )
    driver.get(images.url("/evil.html"))
    WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(site.base_url))
    WebDriverWait(driver, 15).until(lambda d: FORGED in d.page_source)
    # The same form posted from the market's own page, with the token removed, is refused too.
    driver.get(site.base_url + "/appliances/new")
    driver.execute_script(
        "document.querySelector('form[action=\"/appliances/new\"] input[name=csrf_token]')"
        ".remove();"
        "document.getElementById('slug').value = 'evil2';"
        "document.getElementById('title').value = 'Evil';"
        "document.getElementById('create-appliance').click();"
    )
    WebDriverWait(driver, 15).until(lambda d: FORGED in d.page_source)
    with market.sessions() as session:
        assert session.scalars(select(Appliance)).all() == []
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions == ["person.register"]


def test_revoked_certificate_cannot_log_in(
    browser_factory: BrowserFactory, site: Nginx, market: RunningApp, web_pki: WebPki
) -> None:
    driver = browser_factory(web_pki.revoked, site.base_url).driver
    assert driver is not None
    driver.get(site.base_url + "/login")
    assert "SSL certificate error" in driver.page_source
    assert driver.find_elements(By.ID, "login-x509") == []
    with market.sessions() as session:
        assert session.scalars(select(Person)).all() == []
    assert "certificate revoked" in site.error_log()
