"""Certificates for the marketplace web tests: people's client certificates and nginx's host one.

All are issued by the session test PKI's intermediate CA (tests/pki.py), whose CRL revokes
``revoked``; the trust directory given to nginx is the session PKI's IGTF directory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from tests.httpserver import make_server_certificate
from tests.pki import ENDORSER_PREFIX, Credential, TestPki, make_endorser


@dataclass(frozen=True)
class WebPki:
    pki: TestPki
    endorser: Credential  # owns appliances
    manager: Credential  # manages a VO list
    visitor: Credential  # logged in, no role
    revoked: Credential  # revoked in the intermediate's CRL
    untrusted: Credential  # issued by a CA nginx does not trust
    service: Credential  # signs the market's published lists
    host_cert: Path  # nginx's certificate + the intermediate (chain)
    host_key: Path
    root_pem: Path  # what a browser must trust for the host certificate


def build_web_pki(pki: TestPki, directory: Path) -> WebPki:
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    nb, na = now - dt.timedelta(days=1), now + dt.timedelta(days=90)

    def person(cn: str) -> Credential:
        return make_endorser(pki.intermediate, ENDORSER_PREFIX + cn, not_before=nb, not_after=na)

    cert_pem, key_pem = make_server_certificate(pki.intermediate)
    host_cert = directory / "host-cert.pem"
    host_key = directory / "host-key.pem"
    host_cert.write_bytes(cert_pem + pki.intermediate.cert_pem)
    host_key.write_bytes(key_pem)
    host_key.chmod(0o600)
    root_pem = directory / "root.pem"
    root_pem.write_bytes(pki.root.cert_pem)
    return WebPki(
        pki=pki,
        endorser=pki.good,
        manager=person("Vera Manager"),
        visitor=person("Victor Visitor"),
        revoked=pki.revoked,
        untrusted=pki.untrusted_endorser,
        service=person("imagelist market service"),
        host_cert=host_cert,
        host_key=host_key,
        root_pem=root_pem,
    )
