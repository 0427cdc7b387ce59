"""Subscribing (-s): endorser lookup, auto-endorse, credentials, ids, URI choice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.support import LIST_ID, Site, make_image, make_list, now, sign


def _serve(
    server: HttpServer, test_pki: TestPki, path: str = "/image.list", **fields: object
) -> str:
    fields.setdefault("uri", server.url(path))
    fields.setdefault("images", (make_image("img-a"), make_image("img-b")))
    imagelist = make_list(test_pki.good, **fields)  # type: ignore[arg-type]
    server.put(path, sign(imagelist, test_pki.good))
    return server.url(path)


def test_subscribe_creates_the_subscription_link_and_images(
    site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    site.register("good", test_pki.good)
    url = _serve(server, test_pki)
    result = site.subscribe("-s", url)
    assert result.code == 0
    assert result.out == f"{LIST_ID}\tsubscribed\t{url}\t2 images\n"
    assert site.subscribe("-l").out == f"{LIST_ID}\tTrue\tNone\t{url}\n"
    assert site.endorser("-K").out == f"'good'\t'{LIST_ID}'\t'True'\n"
    assert site.image("-l").out == f"img-a\t0\t{LIST_ID}\nimg-b\t0\t{LIST_ID}\n"
    again = site.subscribe("-s", url)
    assert again.code == 0
    assert "already subscribed" in again.out
    (count,) = site.query('select count(*) from "imageListInstance"')
    assert count == (0,), "subscribing does not import the list; -U does"


def test_unknown_endorser_needs_auto_endorse(
    site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    url = _serve(server, test_pki)
    refused = site.subscribe("-s", url)
    assert refused.code == 1
    assert "--auto-endorse" in refused.err
    assert site.subscribe("-l").out == ""
    accepted = site.subscribe("-s", url, "-e")
    assert accepted.code == 0
    (line,) = site.endorser("-l").out.splitlines()
    identifier, dn, ca = (part.strip("'") for part in line.split("\t"))
    assert len(identifier) == 36
    assert (dn, ca) == (test_pki.good.subject_oneline, test_pki.good.issuer_oneline)


def test_auto_endorse_refuses_a_dn_registered_with_another_issuer(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    site = sqlite_site
    site.endorser("-C", "-e", "x", "--dn", test_pki.good.subject_oneline, "-I", "/CN=Other CA")
    result = site.subscribe("-s", _serve(server, test_pki), "--auto-endorse")
    assert result.code == 12
    assert "registered with another issuer" in result.err


def test_subscribe_at_the_typed_url_or_at_hv_uri(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    site = sqlite_site
    site.register("good", test_pki.good)
    url = _serve(server, test_pki, uri="https://home.example/image.list")
    assert site.subscribe("-s", url).code == 0
    assert "names its home as https://home.example/image.list" in caplog.text
    info = site.subscribe("-i").out
    assert f"subscription.hv:uri={url}" in info
    assert "subscription.hv:uri.list=https://home.example/image.list" in info
    assert site.subscribe("-D", "-u", LIST_ID).code == 0
    assert site.subscribe("-s", url, "--follow-uri").code == 0
    assert "https://home.example/image.list" in site.subscribe("-l").out


def test_same_url_now_serving_another_list(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    site = sqlite_site
    site.register("good", test_pki.good)
    url = _serve(server, test_pki)
    assert site.subscribe("-s", url).code == 0
    _serve(server, test_pki, identifier="another-list")
    result = site.subscribe("-s", url)
    assert result.code == 1
    assert "already subscribed as" in result.err


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"identifier": "../../etc"}, "list dc:identifier '../../etc' is not a safe identifier"),
        ({"images": (make_image("$(reboot)"),)}, "image dc:identifier '$(reboot)' is not a safe"),
    ],
)
def test_unsafe_identifiers_are_refused(
    sqlite_site: Site,
    server: HttpServer,
    test_pki: TestPki,
    fields: dict[str, object],
    message: str,
) -> None:
    site = sqlite_site
    site.register("good", test_pki.good)
    result = site.subscribe("-s", _serve(server, test_pki, **fields))
    assert result.code == 31
    assert message in result.err
    assert site.subscribe("-l").out == ""


def test_expired_list_subscribes_with_a_warning(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    site = sqlite_site
    site.register("good", test_pki.good)
    created = now() - timedelta(days=60)
    url = _serve(server, test_pki, created=created, expires=created + timedelta(days=1))
    assert site.subscribe("-s", url).code == 0
    assert "subscribed anyway" in caplog.text
    assert site.subscribe("-U").code == 34


def test_subscribe_with_new_image_modes(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    site = sqlite_site
    site.register("good", test_pki.good)
    url = _serve(server, test_pki)
    assert site.subscribe("-s", url, "--imagelist-newimage-subscribe").code == 0
    assert site.image("-l").out == f"img-a\t1\t{LIST_ID}\nimg-b\t1\t{LIST_ID}\n"
    assert site.subscribe("-U").code == 0
    assert site.image("-l").out == f"img-a\t3\t{LIST_ID}\nimg-b\t3\t{LIST_ID}\n"
    (mode,) = site.query('select "updateMode" from subscription')
    assert mode == (3,)


def test_failures_to_subscribe_keep_their_exit_codes(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    site = sqlite_site
    site.register("good", test_pki.good)
    good = _serve(server, test_pki)
    server.put("/garbage", b"not a list")
    result = site.subscribe("-s", server.url("/missing"), "-s", server.url("/garbage"), "-s", good)
    assert result.code == 11, "the last failure's code"
    assert "HTTP 404" in result.err
    assert "subscribed" in result.out
    assert (
        "user:secret"
        not in site.subscribe("-s", server.url("/x").replace("://", "://user:secret@")).err
    )


def test_follow_uri_needs_a_fetchable_home(
    sqlite_site: Site, server: HttpServer, test_pki: TestPki
) -> None:
    sqlite_site.register("good", test_pki.good)
    url = _serve(server, test_pki, uri="ftp://home.example/image.list")
    result = sqlite_site.subscribe("-s", url, "--follow-uri")
    assert result.code == 1
    assert "cannot be fetched" in result.err
