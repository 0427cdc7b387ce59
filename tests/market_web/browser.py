"""Debian's chromium driven by Selenium through Debian's chromedriver, headless, offline.

Nothing is downloaded at run time: the driver path is explicit (so Selenium Manager is never
run) and ``SE_OFFLINE=true`` is set in case anything tries. Each browser gets its own empty
profile (``--user-data-dir``) and its own ``HOME``.

Client certificates, headless: chromium on Linux reads certificates and trust from the NSS
database ``$HOME/.pki/nssdb`` (not from the profile), so the fixture makes one with ``certutil``
and ``pk12util`` (Debian libnss3-tools) in the browser's private HOME: the test root CA trusted
for TLS servers, and the person's certificate and key. A server that asks for a certificate
makes chromium show a selection dialog, which headless chromium cannot show; the content setting
behind the AutoSelectCertificateForUrls policy (``auto_select_certificate``) is written into the
profile's ``Default/Preferences`` for the test origin, with a filter on the issuer's CN, so chromium
picks the certificate without a dialog. (A managed policy would need /etc/chromium/policies,
which a test must not touch.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.pki import Credential

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Also copy every screenshot into this directory (e.g. test-artifacts/, ignored by git).
ARTIFACTS_ENV = "IMAGELIST_TEST_ARTIFACTS"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def missing_browser_peer() -> str | None:
    """Why chromium cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} missing (Debian packages chromium, chromium-driver)"
    for tool in ("certutil", "pk12util"):
        if shutil.which(tool) is None:
            return f"{tool} missing (Debian package libnss3-tools)"
    return None


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def make_nssdb(home: Path, root_pem: Path, person: Credential | None) -> None:
    """``home/.pki/nssdb`` trusting ``root_pem`` for servers, holding ``person``'s key if any."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    spec = f"sql:{db}"
    _run(["certutil", "-N", "-d", spec, "--empty-password"])
    trust = ["-n", "imagelist test root", "-t", "CT,,", "-i", str(root_pem)]
    _run(["certutil", "-A", "-d", spec, *trust])
    if person is None:
        return
    p12 = home / "person.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"person",
            person.key,
            person.cert,
            None,
            serialization.BestAvailableEncryption(b"test"),
        )
    )
    _run(["pk12util", "-i", str(p12), "-d", spec, "-W", "test"])
    p12.unlink()


def auto_select_preferences(profile: Path, origin: str, issuer_cn: str) -> None:
    """Pre-select a client certificate for ``origin`` (the policy's content setting)."""
    default = profile / "Default"
    default.mkdir(parents=True, exist_ok=True)
    setting = {"filters": [{"ISSUER": {"CN": issuer_cn}}]}
    prefs = {
        "profile": {
            "content_settings": {
                "exceptions": {
                    "auto_select_certificate": {
                        f"{origin},*": {"setting": setting, "last_modified": "0"}
                    }
                }
            }
        }
    }
    (default / "Preferences").write_text(json.dumps(prefs))


def issuer_cn(cred: Credential) -> str:
    return str(cred.cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@dataclass
class Browser:
    """One chromium for one person (or nobody): its own HOME, NSS database and profile."""

    directory: Path
    root_pem: Path
    screenshots: Path
    person: Credential | None = None
    origin: str = ""
    driver: WebDriver | None = None

    def start(self) -> WebDriver:
        home = self.directory / "home"
        profile = self.directory / "profile"
        make_nssdb(home, self.root_pem, self.person)
        if self.person is not None and self.origin:
            auto_select_preferences(profile, self.origin, issuer_cn(self.person))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        env = {**os.environ, "HOME": str(home), "SE_OFFLINE": "true"}
        service = Service(CHROMEDRIVER, env=env)
        os.environ["SE_OFFLINE"] = "true"  # Selenium itself: never fetch a driver or browser
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(30)
        return self.driver

    def screenshot(self, name: str) -> Path:
        """Save the page as ``<screenshots>/<name>.png`` (kept as a test artifact)."""
        assert self.driver is not None
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, max(600, min(int(height), 2400)))
        self.driver.save_screenshot(str(path))
        copy_to = os.environ.get(ARTIFACTS_ENV)
        if copy_to:
            Path(copy_to).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, Path(copy_to) / path.name)
        return path

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.quit()
            self.driver = None
