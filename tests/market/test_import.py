"""Import of an endorser-signed list (signed by the project's signer, as vmcaster writes it):
verified against the market's CA directory, signer a member's identity, bytes kept."""

from __future__ import annotations

from datetime import timedelta

from tests.market.support import Market, snapshot
from tests.pki import TestPki
from tests.subscriber.support import make_image, make_list, now, sign

IMAGE_ID = "0f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
URL = "/api/v1/appliances/centos/versions/import"


def _setup(market: Market, test_pki: TestPki) -> None:
    good = test_pki.good
    market.person("ann", dn=good.subject_oneline, issuer=good.issuer_oneline)
    created = market.call(
        "POST", "/api/v1/appliances", "ann", json={"slug": "centos", "title": "C"}
    )
    assert created.status_code == 201


def _signed(test_pki: TestPki, version: str = "7.1", **kwargs: object) -> bytes:
    image = make_image(IMAGE_ID, uri="https://images.example/centos.qcow2")
    return sign(make_list(test_pki.good, version=version, images=[image], **kwargs), test_pki.good)  # type: ignore[arg-type]


def test_import_creates_a_version_and_keeps_the_signed_bytes(
    market: Market, test_pki: TestPki
) -> None:
    _setup(market, test_pki)
    signed = _signed(test_pki)
    response = market.call("POST", URL, "ann", content=signed)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert set(answer) == {"id", "appliance", "version", "state", "url"}
    assert answer["appliance"] == "centos"
    assert answer["version"] == "7.1"
    assert answer["state"] == "draft"
    assert answer["url"] == f"/api/v1/versions/{answer['id']}"
    assert response.headers["Location"] == answer["url"]
    version = market.call("GET", answer["url"]).json()
    assert version["endorsed_by"] == test_pki.good.subject_oneline
    [image] = version["images"]
    assert image["image"] == IMAGE_ID
    assert image["uri"] == "https://images.example/centos.qcow2"
    assert image["hypervisors"] == ["KVM"]
    assert image["format"] == "QCOW2"
    endorsed = market.call("GET", f"{answer['url']}/endorsed")
    assert endorsed.status_code == 200
    assert endorsed.content == signed
    # the same logical image in the next import; straight to verifying when asked
    response = market.call("POST", URL + "?verify=true", "ann", content=_signed(test_pki, "7.2"))
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "verifying"
    appliance = market.call("GET", "/api/v1/appliances/centos").json()
    assert [i["uuid"] for i in appliance["images"]] == [IMAGE_ID]
    duplicate = market.call("POST", URL, "ann", content=_signed(test_pki, "7.2"))
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "conflict")


def test_refused_imports_change_nothing(market: Market, test_pki: TestPki) -> None:
    _setup(market, test_pki)
    market.person("bob")  # not a member
    other = test_pki.revoked  # a real certificate, but no member's identity
    market.person("eve", dn=test_pki.direct.subject_oneline, issuer=test_pki.direct.issuer_oneline)
    signed = _signed(test_pki)
    tampered = signed.replace(b"centos.qcow2", b"centos.qcow3")
    image = make_image(IMAGE_ID, uri="https://images.example/centos.qcow2")
    by_eve = sign(make_list(test_pki.direct, images=[image]), test_pki.direct)
    untrusted = sign(
        make_list(test_pki.untrusted_endorser, images=[image]), test_pki.untrusted_endorser
    )
    expired = sign(
        make_list(
            test_pki.good,
            images=[image],
            created=now() - timedelta(days=40),
            expires=now() - timedelta(days=1),
        ),
        test_pki.good,
    )
    no_https = sign(
        make_list(test_pki.good, images=[make_image(IMAGE_ID, uri="ftp://x.example/a")]),
        test_pki.good,
    )
    nul = sign(
        make_list(test_pki.good, images=[make_image(IMAGE_ID, title="a\u0000b")]), test_pki.good
    )
    before = snapshot(market.engine)
    cases = [
        ("ann", nul, 422, "import_refused", "NUL character"),
        ("ann", tampered, 422, "import_refused", "signed list refused"),
        ("ann", b"not a signed message", 422, "import_refused", "signed list refused"),
        ("ann", b"", 422, "import_refused", "signed list refused"),
        ("ann", by_eve, 422, "import_refused", "is not the identity of an owner or maintainer"),
        ("ann", untrusted, 422, "import_refused", "signed list refused"),
        ("ann", expired, 422, "import_refused", "expired"),
        ("ann", no_https, 422, "import_refused", "not an http(s) URL"),
        ("bob", signed, 403, "forbidden", "owner or maintainer"),
        (None, signed, 401, "unauthenticated", "authentication required"),
    ]
    assert other.subject_oneline != test_pki.good.subject_oneline
    for who, body, status, code, words in cases:
        response = market.call("POST", URL, who, content=body)
        assert response.status_code == status, (words, response.text)
        assert response.json()["code"] == code
        assert words in response.json()["detail"], response.json()
        assert snapshot(market.engine) == before
    missing = market.call(
        "POST", "/api/v1/appliances/nothing/versions/import", "ann", content=signed
    )
    assert missing.status_code == 404
