"""A client of the OCI distribution API on ``requests``: what we need, verified (ADR 0022).

* **Auth**: a ``401`` is answered once per scope. ``Bearer realm=…,service=…,scope=…``: a token
  is asked from the realm (with the registry's credentials, if any, as basic auth) and sent
  from then on; ``Basic``: the credentials are sent, or the error says there are none.
  Credentials go only over https, and only to the registry and its token realm; a redirect to
  another origin (a storage backend) is followed without them.
* **Manifests** are read whole but bounded (4 MiB, distribution's own limit) and their bytes
  hashed: a manifest asked for by digest must hash to it, and one asked for by tag must hash
  to the ``Docker-Content-Digest`` the registry claims. The digest of the bytes, never the
  registry's word, is the manifest's identity.
* **Blobs** are streamed (:meth:`open_blob`, with ``Range``); the caller hashes what it reads
  (:mod:`imagelist.oci.blobs`, :func:`imagelist.oci.pull.read_layer`).
* **Tags** are paginated with ``n`` and ``Link: <…>; rel="next"`` (same origin only), bounded.

Failures are one-line errors with their exit codes: 56 reference, 57 refused, 58 unreachable
(transient), 59 manifest, 65 blob.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import IO
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from .. import __version__
from ..errors import (
    OciAuthError,
    OciBlobError,
    OciError,
    OciManifestError,
    OciUnavailableError,
)
from .access import Credentials, RegistryAccess
from .manifest import INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, Manifest

__all__ = ["MAX_MANIFEST_BYTES", "RegistryClient"]

logger = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_MAX_TOKEN_BYTES = 1024 * 1024
_MAX_TAG_PAGES = 1000
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
USER_AGENT = f"imagelist/{__version__} (oci)"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class RegistryClient:
    """One registry (``HOST[:PORT]``), one keep-alive session; usable from several threads."""

    def __init__(
        self,
        registry: str,
        access: RegistryAccess | None = None,
        *,
        timeout: tuple[float, float] = (10.0, 60.0),
        adapter: HTTPAdapter | None = None,
    ) -> None:
        self.registry = registry.lower()
        self.access = access or RegistryAccess()
        self.scheme = self.access.scheme(self.registry)
        self.base = f"{self.scheme}://{self.registry}"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = self.access.verify()
        if adapter is not None and self.access.ca_bundle is None:
            self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        self._credentials: Credentials | None = self.access.credentials_for(self.registry)
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._basic = False

    def close(self) -> None:
        self.session.close()

    # --- requests, auth and redirects ----------------------------------------------------------

    def _authorization(self, scope: str) -> str | None:
        with self._lock:
            if scope in self._tokens:
                return self._tokens[scope]
            if self._basic and self._credentials is not None:
                return self._basic_header(self._credentials)
        return None

    def basic_authorization(self) -> dict[str, str]:
        """An Authorization header with our credentials (https only), or none."""
        if self._credentials is None:
            return {}
        self._refuse_plain()
        return {"Authorization": self._basic_header(self._credentials)}

    @staticmethod
    def _basic_header(credentials: Credentials) -> str:
        pair = f"{credentials.username}:{credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        *,
        stream: bool,
        data: IO[bytes] | bytes | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        """One request, following redirects ourselves: credentials stay with the registry."""
        origin = _origin(self.base)
        current = url
        for _hop in range(6):
            scheme = urlsplit(current).scheme
            if scheme not in ("http", "https") or (self.scheme == "https" and scheme != "https"):
                raise OciError(f"{self.registry}: refusing a redirect to a {scheme!r} URL")
            sent = dict(headers)
            if _origin(current) != origin:
                sent.pop("Authorization", None)
            try:
                response = self.session.request(
                    method,
                    current,
                    headers=sent,
                    stream=stream,
                    data=data,
                    timeout=timeout or self.timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                raise OciUnavailableError(
                    f"{self.registry}: TLS verification failed ({_reason(exc)})"
                ) from None
            except requests.RequestException as exc:
                raise OciUnavailableError(
                    f"{self.registry} is unreachable: {_reason(exc)}", transient=True
                ) from None
            if response.status_code not in _REDIRECTS or method not in ("GET", "HEAD"):
                return response
            location = response.headers.get("Location", "")
            response.close()
            current = urljoin(current, location)
        raise OciError(f"{self.registry}: too many redirects")

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        data: IO[bytes] | bytes | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        """``method`` on ``path`` (``/v2/…`` or an absolute URL of this registry), authorised
        for ``scope`` (answering one 401 challenge); 401/403 raise OciAuthError (exit 57)."""
        url = path if "://" in path else self.base + path
        for attempt in range(2):
            sent = dict(headers or {})
            authorization = self._authorization(scope)
            if authorization:
                sent["Authorization"] = authorization
            response = self._send(method, url, sent, stream=stream, data=data, timeout=timeout)
            if response.status_code != 401 or attempt or authorization:
                break
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            self._answer(challenge, scope)
        if response.status_code in (401, 403):
            response.close()
            who = "without credentials" if self._credentials is None else "with our credentials"
            raise OciAuthError(
                f"{self.registry} refused {method} {urlsplit(url).path[:120]} {who}: "
                f"HTTP {response.status_code}"
            )
        return response

    def _answer(self, challenge: str, scope: str) -> None:
        kind, _, rest = challenge.strip().partition(" ")
        kind = kind.lower()
        params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(rest)}
        if kind == "basic":
            if self._credentials is None:
                raise OciAuthError(
                    f"{self.registry} asks for credentials (HTTP 401) and the OCI credentials "
                    "file has none for it"
                )
            self._refuse_plain()
            with self._lock:
                self._basic = True
            return
        if kind != "bearer" or not params.get("realm"):
            raise OciAuthError(f"{self.registry} sent an unusable authentication challenge")
        token = self._fetch_token(
            params["realm"], params.get("service"), params.get("scope") or scope
        )
        with self._lock:
            self._tokens[scope] = f"Bearer {token}"

    def _refuse_plain(self) -> None:
        if self.scheme != "https":
            raise OciAuthError(f"{self.registry}: not sending credentials over plain http")

    def _fetch_token(self, realm: str, service: str | None, scope: str) -> str:
        scheme = urlsplit(realm).scheme
        same = _origin(realm)[1:] == _origin(self.base)[1:]
        if scheme != "https" and not (same and scheme == self.scheme):
            raise OciAuthError(f"{self.registry}: refusing token realm {realm[:100]!r} (not https)")
        query = {key: value for key, value in (("service", service), ("scope", scope)) if value}
        headers: dict[str, str] = {}
        if self._credentials is not None:
            if scheme != "https":
                self._refuse_plain()
            headers["Authorization"] = self._basic_header(self._credentials)
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        try:
            response = self.session.get(
                url, headers=headers, timeout=self.timeout, stream=True, allow_redirects=False
            )
            body = response.raw.read(_MAX_TOKEN_BYTES + 1, decode_content=True)
            response.close()
        except (requests.RequestException, OSError) as exc:
            raise OciUnavailableError(
                f"{self.registry}: token service unreachable: {_reason(exc)}", transient=True
            ) from None
        if response.status_code in (401, 403):
            raise OciAuthError(f"{self.registry}: the token service refused us (HTTP 401/403)")
        if response.status_code != 200 or len(body) > _MAX_TOKEN_BYTES:
            raise OciAuthError(f"{self.registry}: no token (HTTP {response.status_code})")
        try:
            document = json.loads(body)
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise OciAuthError(f"{self.registry}: the token service sent no token")
        return token

    def _status_error(self, response: requests.Response, what: str) -> OciError:
        status = response.status_code
        response.close()
        if status >= 500 or status in (408, 429):
            return OciUnavailableError(f"{self.registry}: {what}: HTTP {status}", transient=True)
        return OciError(f"{self.registry}: {what}: HTTP {status}")

    # --- manifests ----------------------------------------------------------------------------

    def get_manifest(self, repository: str, target: str) -> Manifest:
        """The image manifest ``target`` (digest or tag), its bytes hashed and checked."""
        by_digest = target.startswith("sha256:")
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{target}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES + INDEX_MEDIA_TYPES)},
            stream=True,
        )
        where = f"{repository}@{target}" if by_digest else f"{repository}:{target}"
        if response.status_code == 404:
            response.close()
            raise OciManifestError(f"{self.registry} has no manifest {where}")
        if response.status_code != 200:
            raise self._status_error(response, f"manifest {where}")
        try:
            body = response.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
        except (OSError, requests.RequestException, ValueError) as exc:
            raise OciUnavailableError(
                f"{self.registry}: manifest {where} cut off: {_reason(exc)}", transient=True
            ) from None
        finally:
            response.close()
        if len(body) > MAX_MANIFEST_BYTES:
            raise OciManifestError(f"manifest {where} is larger than {MAX_MANIFEST_BYTES} bytes")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if by_digest and digest != target:
            raise OciManifestError(
                f"{self.registry} served bytes hashing to {digest} for manifest {where}"
            )
        claimed = response.headers.get("Docker-Content-Digest")
        if not by_digest and claimed and claimed != digest:
            raise OciManifestError(
                f"{self.registry}: manifest {where} hashes to {digest}, not {claimed}"
            )
        return Manifest.parse(body, digest, response.headers.get("Content-Type"))

    def head_manifest(self, repository: str, tag: str) -> str | None:
        """The digest a tag names, as the registry claims (None: no such tag). Unverified."""
        response = self.request(
            "HEAD",
            f"/v2/{repository}/manifests/{tag}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
        )
        response.close()
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._status_error(response, f"manifest {repository}:{tag}")
        claimed = response.headers.get("Docker-Content-Digest")
        return str(claimed) if claimed else None

    # --- blobs and tags -----------------------------------------------------------------------

    def open_blob(
        self,
        repository: str,
        digest: str,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        """GET the blob for streaming; the caller checks the status, reads and closes it.

        404 raises OciBlobError (exit 65); other statuses are the caller's.
        """
        response = self.request(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            scope=f"repository:{repository}:pull",
            headers=headers,
            stream=True,
            timeout=timeout,
        )
        if response.status_code == 404:
            response.close()
            raise OciBlobError(f"{self.registry} has no blob {digest} in {repository}")
        return response

    def tags(self, repository: str, *, page: int = 100, limit: int = 100_000) -> list[str]:
        """Every tag of ``repository``, page by page (bounded by ``limit``)."""
        found: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list?n={page}"
        pages = 0
        while path is not None:
            pages += 1
            if pages > _MAX_TAG_PAGES or len(found) > limit:
                raise OciError(f"{self.registry}: {repository} has too many tags")
            response = self.request("GET", path, scope=f"repository:{repository}:pull", stream=True)
            if response.status_code != 200:
                raise self._status_error(response, f"tags of {repository}")
            try:
                body = response.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
            finally:
                response.close()
            try:
                tags = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise OciError(f"{self.registry}: tags of {repository} are not JSON") from None
            found.extend(tag for tag in tags if isinstance(tag, str))
            path = self._next_page(response.headers.get("Link", ""))
        return found

    def _next_page(self, link: str) -> str | None:
        match = _LINK.search(link)
        if match is None:
            return None
        url = urljoin(self.base + "/", str(match[1]))
        if _origin(url) != _origin(self.base):
            raise OciError(f"{self.registry}: tag list continues on another origin")
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.path}{query}"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    for marker in ("Connection refused", "timed out", "Name or service not known"):
        if marker in text:
            return marker.lower()
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed"
    return type(exc).__name__
