"""The pages over plain HTTP (no browser): filters, fragments, tokens, the vendored htmx.

The app is reached directly on 127.0.0.1, which it trusts as its proxy, so a test logs in by
sending the headers nginx would set (the nginx tests show nginx sets exactly these).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import httpx
import pytest

from imagelist.db.market.models import (
    Appliance,
    ApplianceVersion,
    Image,
    ImageInstance,
    Person,
    Vo,
    VoList,
    VoListEntry,
)
from imagelist.market.web.context import HTMX_FILE, STATIC_DIR
from tests.market_web.app import RunningApp

NOW = datetime.now(UTC).replace(microsecond=0)
ALICE = {
    "X-SSL-Client-Verify": "SUCCESS",
    "X-SSL-Client-S-DN": "CN=Alice,O=Endorsers,DC=imagelist-test,DC=org",
    "X-SSL-Client-I-DN": "CN=Test Intermediate CA,DC=imagelist-test,DC=org",
}
HTMX_SHA256 = "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447"


def csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


@contextmanager
def logged_in(market: RunningApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{market.address}", headers=ALICE) as client:
        page = client.get("/login")
        assert client.post("/login", data={"csrf_token": csrf(page.text)}).status_code == 303
        yield client


def appliance(
    market: RunningApp, slug: str, title: str, os_name: str, arch: str, fmt: str, hv: str
) -> int:
    with market.sessions() as session:
        owner = Person(display_name=f"Owner of {slug}", created=NOW)
        session.add(owner)
        session.flush()
        item = Appliance(
            slug=slug, uuid=str(uuid.uuid4()), title=title, owner_id=owner.id, created=NOW
        )
        session.add(item)
        session.flush()
        image = Image(appliance_id=item.id, uuid=str(uuid.uuid4()), title=f"{title} image")
        session.add(image)
        version = ApplianceVersion(
            appliance_id=item.id,
            version="1",
            uuid=str(uuid.uuid4()),
            state="published",
            expires_at=NOW + timedelta(days=90),
            created_at=NOW,
            published_at=NOW,
        )
        session.add(version)
        session.flush()
        session.add(
            ImageInstance(
                version_id=version.id,
                image_id=image.id,
                uuid=str(uuid.uuid4()),
                uri=f"https://images.example/{slug}.img",
                format=fmt,
                hypervisors=[hv],
                arch=arch,
                os_family="Linux",
                os_name=os_name,
                os_version="1",
                size=1,
                sha512="0" * 128,
                integrity_state="ok",
            )
        )
        session.commit()
        return version.id


@pytest.fixture
def catalogue(market: RunningApp) -> None:
    appliance(market, "ubuntu", "Ubuntu 24.04", "Ubuntu", "x86_64", "QCOW2", "KVM")
    arm = appliance(market, "alma-arm", "AlmaLinux ARM", "AlmaLinux", "aarch64", "RAW", "Xen")
    with market.sessions() as session:
        vo = Vo(name="atlas", description="", created=NOW)
        session.add(vo)
        session.flush()
        listed = VoList(vo_id=vo.id, uuid=str(uuid.uuid4()), state="published", created_at=NOW)
        session.add(listed)
        session.flush()
        alma = session.get(ApplianceVersion, arm)
        assert alma is not None
        session.add(
            VoListEntry(
                vo_list_id=listed.id, appliance_id=alma.appliance_id, appliance_version_id=arm
            )
        )
        session.commit()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["AlmaLinux ARM", "Ubuntu 24.04"]),
        ({"arch": "aarch64"}, ["AlmaLinux ARM"]),
        ({"format": "QCOW2"}, ["Ubuntu 24.04"]),
        ({"hypervisor": "Xen"}, ["AlmaLinux ARM"]),
        ({"os": "Linux Ubuntu 1"}, ["Ubuntu 24.04"]),
        ({"vo": "atlas"}, ["AlmaLinux ARM"]),
        ({"q": "ubuntu"}, ["Ubuntu 24.04"]),
        ({"q": "nothing-like-this"}, []),
    ],
)
def test_catalogue_filters_without_javascript(
    market: RunningApp, catalogue: None, query: dict[str, str], expected: list[str]
) -> None:
    page = httpx.get(f"http://{market.address}/", params=query)
    assert page.status_code == 200
    titles = re.findall(r'<h2><a href="/appliances/[^"]+">([^<]+)</a></h2>', page.text)
    assert titles == expected
    assert '<form method="get" action="/"' in page.text  # a plain GET form without JS
    assert '<label for="f-vo">Endorsed by VO</label>' in page.text


def test_catalogue_htmx_request_gets_only_the_results(market: RunningApp, catalogue: None) -> None:
    page = httpx.get(
        f"http://{market.address}/", params={"arch": "x86_64"}, headers={"HX-Request": "true"}
    )
    assert page.status_code == 200
    assert "<html" not in page.text
    assert "Ubuntu 24.04" in page.text
    assert "AlmaLinux" not in page.text


def test_token_is_shown_once_works_and_is_revoked(market: RunningApp) -> None:
    with logged_in(market) as client:
        me = client.get("/me")
        created = client.post("/me/tokens", data={"csrf_token": csrf(me.text), "name": "laptop"})
        assert created.status_code == 200
        secret = re.search(r'id="token-secret"[^>]*value="([^"]+)"', created.text)
        assert secret
        token = secret.group(1)
        assert token not in client.get("/me").text  # never shown again
        api = httpx.get(
            f"http://{market.address}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert api.status_code == 200
        assert api.json()["person"]["display_name"] == "Alice"
        me = client.get("/me")
        token_id = re.search(r'action="/me/tokens/(\d+)/revoke"', me.text)
        assert token_id
        revoked = client.post(
            f"/me/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf(me.text)}
        )
        assert revoked.status_code == 303
        page = client.get("/me")
        assert "revoked" in page.text
        assert "token.revoke" in page.text  # the history shows it, with who
        refused = httpx.get(
            f"http://{market.address}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 401


def test_a_refused_action_shows_the_market_rule(market: RunningApp) -> None:
    with logged_in(market) as client:
        page = client.get("/appliances/new")
        token = csrf(page.text)
        data = {"csrf_token": token, "slug": "dup", "title": "First"}
        assert client.post("/appliances/new", data=data).headers["location"] == "/appliances/dup"
        again = client.post("/appliances/new", data={**data, "title": "Second"})
        assert again.headers["location"] == "/appliances/new"
        shown = client.get("/appliances/new")
        assert "appliance &#39;dup&#39; already exists" in shown.text
        bad = client.post("/appliances/new", data={**data, "slug": "Bad Slug!"})
        assert bad.headers["location"] == "/appliances/new"
        assert "slug" in client.get("/appliances/new").text


def test_vendored_htmx_is_the_pinned_file() -> None:
    data = (STATIC_DIR / HTMX_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256
    assert HTMX_SHA256 in (STATIC_DIR / "README.md").read_text()
    assert "Zero-Clause BSD" in (STATIC_DIR / "htmx-LICENSE.txt").read_text()


def test_static_files_are_served(market: RunningApp) -> None:
    response = httpx.get(f"http://{market.address}/static/{HTMX_FILE}")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == HTMX_SHA256


def test_version_editor_adds_edits_and_removes_images_with_history(market: RunningApp) -> None:
    with logged_in(market) as client:
        token = csrf(client.get("/appliances/new").text)
        client.post("/appliances/new", data={"csrf_token": token, "slug": "edit", "title": "E"})
        made = client.post(
            "/appliances/edit/versions",
            data={"csrf_token": token, "version": "2.0", "expires_in_months": "3"},
        )
        page = made.headers["location"]
        assert re.fullmatch(r"/versions/\d+", page)
        image = {
            "csrf_token": token,
            "title": "Disk",
            "uri": "https://images.example/disk.qcow2",
            "format": "QCOW2",
            "hypervisors": "KVM, Xen",
            "arch": "x86_64",
            "os_family": "Linux",
            "os_name": "Debian",
            "os_version": "12",
            "size": "1024",
            "sha512": "a" * 128,
            "autocheck": "true",
        }
        assert client.post(f"{page}/images", data=image).headers["location"] == page
        editor = client.get(page).text
        assert "https://images.example/disk.qcow2" in editor
        assert "KVM, Xen" in editor
        instance = re.search(rf'href="{page}/images/(\d+)"', editor)
        assert instance
        form = client.get(f"{page}/images/{instance.group(1)}")
        assert 'value="https://images.example/disk.qcow2"' in form.text
        changed = {**image, "uri": "https://images.example/disk-2.qcow2"}
        changed.pop("title")
        saved = client.post(f"{page}/images/{instance.group(1)}", data=changed)
        assert saved.headers["location"] == page
        assert "disk-2.qcow2" in client.get(page).text
        bad = client.post(f"{page}/images", data={**image, "title": "Other", "sha512": "xyz"})
        assert bad.headers["location"] == page
        assert "sha512" in client.get(page).text
        removed = client.post(
            f"{page}/images/{instance.group(1)}/remove", data={"csrf_token": token}
        )
        assert removed.headers["location"] == page
        final = client.get(page).text
        assert "disk-2.qcow2" not in final
        history = final[final.index('id="history"') :]
        for action in ("image.add", "image.update", "image.remove", "version.create"):
            assert action in history
        assert history.count("<td>Alice</td>") >= 4
    anonymous = httpx.get(f"http://{market.address}{page}")
    assert anonymous.status_code == 404  # a draft is for its members only


class _Fields(HTMLParser):
    """Every form control and how it is labelled."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.in_label = 0
        self.buttons: list[str] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if values.get("for"):
                self.labels.add(str(values["for"]))
        elif tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.controls.append({**values, "_wrapped": "1" if self.in_label else None})
        elif tag == "button":
            self._button = [values.get("aria-label") or ""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1
        elif tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button).strip())
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)


def test_every_form_control_is_labelled(market: RunningApp, catalogue: None) -> None:
    with logged_in(market) as client:
        token = csrf(client.get("/appliances/new").text)
        client.post("/appliances/new", data={"csrf_token": token, "slug": "lab", "title": "L"})
        version = client.post(
            "/appliances/lab/versions", data={"csrf_token": token, "version": "1"}
        ).headers["location"]
        pages = ["/", "/login", "/appliances/new", "/appliances/lab", version, "/me", "/vos"]
        for path in pages:
            parser = _Fields()
            parser.feed(client.get(path).text)
            for control in parser.controls:
                labelled = (
                    control.get("_wrapped")
                    or control.get("aria-label")
                    or (control.get("id") and control["id"] in parser.labels)
                )
                assert labelled, f"{path}: unlabelled {control}"
            assert all(parser.buttons), f"{path}: a button without text"
            assert parser.controls or path in ("/vos", "/login"), path
