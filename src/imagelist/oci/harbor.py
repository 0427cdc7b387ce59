"""Harbor's REST API v2.0: the repositories of a project (as atrope and EGI's scripts list them).

``GET {api}/projects/{project}/repositories?page_size=100``, following ``Link: <…>; rel="next"``
on the same origin, at most 100 pages; basic auth with the source's credentials, over https
only. Each repository's ``name`` is ``project/repository``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit

from ..errors import OciError
from .client import RegistryClient

if TYPE_CHECKING:
    from .source import RegistrySource

__all__ = ["harbor_repositories"]

_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
_MAX_PAGES = 100
_MAX_PAGE_BYTES = 4 * 1024 * 1024


def harbor_repositories(source: RegistrySource, client: RegistryClient) -> list[str]:
    """The repository names of ``source.harbor_project``."""
    project = source.harbor_project or ""
    api = (source.harbor_api or f"{client.base}/api/v2.0").rstrip("/")
    origin = urlsplit(api)[:2]
    url: str | None = f"{api}/projects/{quote(project, safe='')}/repositories?page_size=100"
    found: list[str] = []
    for _page in range(_MAX_PAGES):
        if url is None:
            return found
        response = client.request(
            "GET",
            url,
            scope=f"harbor:{project}",
            headers={"Accept": "application/json", **client.basic_authorization()},
            stream=True,
        )
        try:
            if response.status_code != 200:
                raise OciError(
                    f"Harbor {api}: repositories of {project}: HTTP {response.status_code}"
                )
            body = response.raw.read(_MAX_PAGE_BYTES + 1, decode_content=True)
        finally:
            response.close()
        try:
            items = json.loads(body)
        except ValueError:
            raise OciError(f"Harbor {api}: repositories of {project} are not JSON") from None
        if not isinstance(items, list):
            raise OciError(f"Harbor {api}: repositories of {project} are not a JSON list")
        prefix = f"{project}/"
        found.extend(
            item["name"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and item["name"].startswith(prefix)
        )
        match = _LINK.search(response.headers.get("Link", ""))
        url = None
        if match is not None:
            url = urljoin(api + "/", str(match[1]))
            if urlsplit(url)[:2] != origin:
                raise OciError(f"Harbor {api}: the next page is on another origin")
    raise OciError(f"Harbor {api}: {project} has more than {_MAX_PAGES} pages of repositories")
