"""Failure: a DN typed in the comma form was stored as given and never matched (issue 10.5).

``vmcatcher_endorser --create --dn 'CN=...,O=...,DC=...'`` now stores the OpenSSL slash form and
prints it; what is no DN, or cannot be matched, is refused in one line and nothing is stored.
``vmcaster`` reads its endorser DN options the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from imagelist.cli import vmcaster
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.support import Site, make_image, make_list, sign


def _rfc4514(name: x509.Name) -> str:
    return name.rfc4514_string()


def test_comma_form_endorser_is_stored_in_slash_form_and_matches(
    site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    good = test_pki.good
    typed_dn, typed_ca = _rfc4514(good.cert.subject), _rfc4514(good.cert.issuer)
    assert typed_dn.startswith("CN=Good Endorser,O=Endorsers,")
    created = site.endorser("--create", "-e", "comma", "--dn", typed_dn, "--issuer", typed_ca)
    assert created.code == 0, created.err
    assert f"DN {typed_dn!r} stored as {good.subject_oneline!r}" in created.err
    assert f"issuer {typed_ca!r} stored as {good.issuer_oneline!r}" in created.err
    assert site.query('SELECT hv_dn, hv_ca FROM "endorserPrincible"') == [
        (good.subject_oneline, good.issuer_oneline)
    ]
    imagelist = make_list(good, images=(make_image("img-a"),), uri=server.url("/image.list"))
    server.put("/image.list", sign(imagelist, good), etag="auto")
    assert site.subscribe("-s", server.url("/image.list")).code == 0
    result = site.subscribe("-U")
    assert result.code == 0, (result.out, result.err)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("alvarosimon", "is not a DN"),
        ("/DC=org/DC=imagelist-test/O=Endorsers/CN=host/vm01", "is not TYPE=value"),
        ("CN=a\\\\b,DC=org", "backslash"),
        ("Nickname=x,DC=org", "unknown attribute type"),
    ],
)
def test_what_is_no_dn_is_refused(site: Site, test_pki: TestPki, typed: str, reason: str) -> None:
    before = site.snapshot()
    result = site.endorser(
        "--create", "-e", "x", "--dn", typed, "--issuer", test_pki.good.issuer_oneline
    )
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("vmcatcher_endorser: error: ")
    assert reason in line
    assert site.snapshot() == before


def test_vmcaster_reads_endorser_dns_in_comma_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VMCASTER_RDBMS", f"sqlite:///{tmp_path / 'vmcaster.db'}")
    assert (
        vmcaster.main(["--select-endorser", "CN=alvarosimon,O=cesga,DC=es", "--add-endorser"]) == 0
    )
    assert "read as '/DC=es/O=cesga/CN=alvarosimon'" in capsys.readouterr().err
    assert vmcaster.main(["--list-endorser"]) == 0
    assert capsys.readouterr().out == "/DC=es/O=cesga/CN=alvarosimon\n"
    key = ["--key-set-endorser", "hv:ca", "--key-value-endorser", "CN=CA,DC=es"]
    assert vmcaster.main(["--select-endorser", "/DC=es/O=cesga/CN=alvarosimon", *key]) == 0
    assert (
        vmcaster.main(["--select-endorser", "/DC=es/O=cesga/CN=alvarosimon", "--show-endorser"])
        == 0
    )
    assert '"hv:ca": "/DC=es/CN=CA"' in capsys.readouterr().out
    assert vmcaster.main(["--select-endorser", "not a dn", "--add-endorser"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "is not a DN" in line
    assert vmcaster.main(["--del-endorser", "CN=alvarosimon,O=cesga,DC=es"]) == 0
    assert vmcaster.main(["--list-endorser"]) == 0
    assert capsys.readouterr().out == ""
