"""Harbor's REST API v2.0 (repositories of a project), served as Harbor documents it.

No Harbor can run here; the pages are served by the real test HTTP server in the shape of
Harbor's ``GET /api/v2.0/projects/{project}/repositories`` (JSON list, ``Link: rel="next"``).
Credentials go as basic auth over https only.
"""

from __future__ import annotations

import json

import pytest

from imagelist.errors import OciAuthError, OciError
from imagelist.oci.access import RegistryAccess
from imagelist.oci.client import RegistryClient
from imagelist.oci.harbor import harbor_repositories
from imagelist.oci.source import RegistrySource
from tests.httpserver import HttpServer, Resource

PAGE1 = "/api/v2.0/projects/egi_vm_images/repositories?page_size=100"
PAGE2 = "/api/v2.0/projects/egi_vm_images/repositories?page=2&page_size=100"


def _page(names: list[str], next_page: str | None = None) -> Resource:
    headers = {"Link": f'<{next_page}>; rel="next"'} if next_page else {}
    body = json.dumps([{"name": name, "artifact_count": 4} for name in names]).encode()
    return Resource(body=body, content_type="application/json", headers=headers)


def _source(server: HttpServer) -> tuple[RegistrySource, RegistryClient]:
    host = server.url("/").split("//", 1)[1].rstrip("/")
    access = RegistryAccess(plain_http=frozenset({host}))
    source = RegistrySource(
        "egi", host, harbor_project="egi_vm_images", trust="none", access=access
    )
    return source, RegistryClient(host, access)


def test_repositories_are_read_page_by_page() -> None:
    with HttpServer() as server:
        server.put(PAGE1, _page(["egi_vm_images/ubuntu", "egi_vm_images/alma"], PAGE2))
        server.put(PAGE2, _page(["egi_vm_images/rocky", "other/not-ours"]))
        source, client = _source(server)
        assert harbor_repositories(source, client) == [
            "egi_vm_images/ubuntu",
            "egi_vm_images/alma",
            "egi_vm_images/rocky",
        ]


def test_a_next_page_on_another_origin_is_refused() -> None:
    with HttpServer() as server:
        server.put(PAGE1, _page(["egi_vm_images/ubuntu"], "https://elsewhere.example/x"))
        source, client = _source(server)
        with pytest.raises(OciError, match="the next page is on another origin"):
            harbor_repositories(source, client)


def test_a_refusal_is_57() -> None:
    with HttpServer() as server:
        server.put(PAGE1, Resource(body=b"{}", status=401))
        source, client = _source(server)
        with pytest.raises(OciAuthError) as caught:
            harbor_repositories(source, client)
        assert caught.value.exit_code == 57
