"""The shipped nginx configuration, run for real: client certificates, CRLs, header hygiene.

The upstream is the recording test HTTP server, so each test sees exactly which headers nginx
passed to the application.
"""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

import pytest

from tests.httpserver import HttpServer
from tests.market_web.conftest import NginxFactory
from tests.market_web.nginx import SHIPPED_CONF, Nginx, build_bundles
from tests.market_web.pki import WebPki
from tests.pki import Credential, TestPki

FORGED = {
    "X-SSL-Client-Verify": "SUCCESS",
    "X-SSL-Client-S-DN": "CN=Admin,DC=imagelist-test,DC=org",
    "X-SSL-Client-I-DN": "CN=Test Intermediate CA,DC=imagelist-test,DC=org",
    "X-Forwarded-For": "127.0.0.1",
}


def client_context(web_pki: WebPki, cred: Credential | None, tmp_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(web_pki.root_pem))
    if cred is not None:
        cert, key = cred.write(tmp_path / "client" / cred.subject_hash)
        context.load_cert_chain(cert, key)
    return context


def get(
    proxy: Nginx,
    path: str,
    context: ssl.SSLContext,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.values.https_port, context=context)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture
def upstream() -> HttpServer:
    with HttpServer() as server:
        server.put("/login", b"hello")
        yield server


@pytest.fixture
def proxy(nginx_factory: NginxFactory, upstream: HttpServer, tmp_path: Path) -> Nginx:
    data = tmp_path / "data"
    (data / "store" / "vappliance" / "demo").mkdir(parents=True)
    (data / "store" / "vappliance" / "demo" / "image.list").write_bytes(b"signed list")
    return nginx_factory(f"127.0.0.1:{upstream.port}", data)


def test_rendered_config_passes_nginx_t(proxy: Nginx) -> None:
    checked = proxy.check()
    assert checked.returncode == 0, checked.stderr
    assert "ssl_verify_client optional;" in proxy.site.read_text()


def test_valid_certificate_forwards_its_dns(
    proxy: Nginx, upstream: HttpServer, web_pki: WebPki, tmp_path: Path
) -> None:
    context = client_context(web_pki, web_pki.endorser, tmp_path)
    status, _, body = get(proxy, "/login", context, FORGED)
    assert (status, body) == (200, b"hello")
    (record,) = upstream.requests_for("/login")
    headers = {k.lower(): v for k, v in record.headers.items()}
    assert headers["x-ssl-client-verify"] == "SUCCESS"
    assert headers["x-ssl-client-s-dn"] == web_pki.endorser.cert.subject.rfc4514_string()
    assert headers["x-ssl-client-i-dn"] == web_pki.pki.intermediate.cert.subject.rfc4514_string()
    assert "x-forwarded-for" not in headers  # the forged one is dropped, none is added
    assert headers["x-forwarded-proto"] == "https"


def test_without_certificate_forged_headers_are_dropped(
    proxy: Nginx, upstream: HttpServer, web_pki: WebPki, tmp_path: Path
) -> None:
    status, _, _ = get(proxy, "/login", client_context(web_pki, None, tmp_path), FORGED)
    assert status == 200
    (record,) = upstream.requests_for("/login")
    headers = {k.lower(): v for k, v in record.headers.items()}
    assert headers["x-ssl-client-verify"] == "NONE"
    assert "x-ssl-client-s-dn" not in headers
    assert "x-ssl-client-i-dn" not in headers
    assert "x-forwarded-for" not in headers


@pytest.mark.parametrize("who", ["revoked", "untrusted"])
def test_bad_certificate_never_reaches_the_application(
    who: str, proxy: Nginx, upstream: HttpServer, web_pki: WebPki, tmp_path: Path
) -> None:
    cred = getattr(web_pki, who)
    status, _, body = get(proxy, "/login", client_context(web_pki, cred, tmp_path), FORGED)
    assert status == 400
    assert b"SSL certificate error" in body
    assert upstream.requests_for("/login") == []
    expected = "certificate revoked" if who == "revoked" else "unable to verify"
    assert expected in proxy.error_log()


def test_store_is_served_statically_with_validators(
    proxy: Nginx, upstream: HttpServer, web_pki: WebPki, tmp_path: Path
) -> None:
    context = client_context(web_pki, None, tmp_path)
    path = "/store/vappliance/demo/image.list"
    status, headers, body = get(proxy, path, context)
    assert (status, body) == (200, b"signed list")
    assert headers["etag"]
    assert headers["last-modified"]
    status, _, body = get(proxy, path, context, {"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
    status, _, _ = get(proxy, "/store/vappliance/demo/../../../nginx0/conf/nginx.conf", context)
    assert status in (400, 404)
    assert upstream.requests_for(path) == []


def test_bundle_script_reads_der_crls(test_pki: TestPki, tmp_path: Path) -> None:
    cas, crls = build_bundles(test_pki.der_crl_dir, tmp_path / "out")
    assert cas.read_text().count("BEGIN CERTIFICATE") == 2
    assert crls.read_text().count("BEGIN X509 CRL") == 2


def test_shipped_config_is_the_one_rendered() -> None:
    text = SHIPPED_CONF.read_text()
    for directive in (
        "ssl_verify_client optional;",
        "proxy_set_header X-SSL-Client-S-DN $ssl_client_s_dn;",
        "proxy_set_header X-SSL-Client-I-DN $ssl_client_i_dn;",
        "proxy_set_header X-SSL-Client-Verify $ssl_client_verify;",
        "ssl_crl /etc/nginx/igtf/crl-bundle.pem;",
    ):
        assert directive in text
