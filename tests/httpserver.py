"""A real threaded HTTP(S) server on 127.0.0.1 for tests, able to misbehave on demand.

Each path is served by a :class:`Resource` that says what to send and how: plain bodies with
ETag/Last-Modified (304 on a matching conditional GET), byte ranges (206, ``If-Range``),
redirects, Basic auth, a delay before answering, a stall mid-body, a connection dropped
mid-body, a lying ``Content-Length``, endless data, and a throttle (bytes per second). Bodies
are bytes in memory or a file on disk (``file=``), sent with ``sendfile`` when nothing is to be
done to them, so images of several GiB cost no memory and little CPU. The server
speaks HTTP/1.1 with keep-alive, optionally over TLS, records every request (headers, status and
body bytes sent) and also answers proxy-style requests (``GET http://host/path``), so it can
stand in for a forward proxy.

    with HttpServer() as server:
        server.put("/image.list", signed_bytes, etag="auto")
        url = server.url("/image.list")
        ...
        assert server.hits("/image.list") == 1

Nothing here is a fake: clients talk to it through real sockets, so timeouts, keep-alive,
truncation and TLS verification behave as with any server.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.server
import ipaddress
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.pki import Credential, parse_oneline

__all__ = [
    "FIXED_LAST_MODIFIED",
    "HttpServer",
    "RequestRecord",
    "Resource",
    "http_date",
    "make_server_certificate",
    "server_tls_context",
]

#: The Last-Modified date used for ``last_modified="auto"``.
FIXED_LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_SENDFILE_STEP = 8 * 1024 * 1024
_FAULT_LOCK = threading.Lock()


@dataclass
class Resource:
    """What one path serves, and how (all misbehaviour is opt-in)."""

    body: bytes = b""
    #: Serve this file instead of ``body`` (read at each request; sendfile when possible).
    file: Path | None = None
    status: int = 200
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    #: Strong ETag to send; ``"auto"`` derives one from the body.
    etag: str | None = None
    #: Last-Modified to send (an HTTP date); ``"auto"`` uses FIXED_LAST_MODIFIED.
    last_modified: str | None = None
    #: Redirect target (sent with ``status``, which should then be 301/302/303/307/308).
    location: str | None = None
    #: Basic credentials the client must send, else 401.
    auth: tuple[str, str] | None = None
    #: Honour ``Range`` (and ``If-Range``) requests with 206.
    ranges: bool = True
    #: Seconds to wait before sending the status line.
    delay: float = 0.0
    #: Send the headers and this many body bytes, then go silent for ``stall_for`` seconds.
    stall_after: int | None = None
    stall_for: float = 3600.0
    #: Send this many body bytes, then drop the connection.
    drop_after: int | None = None
    #: The Content-Length to claim; a lie when it differs from the bytes sent.
    content_length: int | None = None
    #: Send ``body`` (or zeros) again and again until the client goes away.
    endless: bool = False
    #: Throttle the body to this many bytes per second.
    rate: float | None = None
    chunk_size: int = 64 * 1024
    #: Stall or drop only in the first this many responses, then behave (None: always).
    faults: int | None = None
    _faults_done: int = field(default=0, repr=False)

    def etag_value(self) -> str | None:
        if self.etag == "auto":
            if self.file is not None:
                info = self.file.stat()
                return f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
            return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        return self.etag

    def take_fault(self) -> bool:
        """Whether this response misbehaves (counts it against ``faults``)."""
        if self.faults is None:
            return True
        with _FAULT_LOCK:
            if self._faults_done >= self.faults:
                return False
            self._faults_done += 1
            return True

    def length(self) -> int:
        """Bytes in the whole body."""
        return self.file.stat().st_size if self.file is not None else len(self.body)

    def read(self, start: int, stop: int) -> bytes:
        """Body bytes ``start`` to ``stop`` (exclusive)."""
        if self.file is None:
            return self.body[start:stop]
        with self.file.open("rb") as handle:
            handle.seek(start)
            return handle.read(max(0, stop - start))

    def plain(self) -> bool:
        """Nothing to do to the body but send it (sendfile may be used)."""
        return (
            self.file is not None
            and self.rate is None
            and self.stall_after is None
            and self.drop_after is None
        )

    def last_modified_value(self) -> str | None:
        return FIXED_LAST_MODIFIED if self.last_modified == "auto" else self.last_modified


@dataclass
class RequestRecord:
    """One request as the server saw it."""

    method: str
    target: str  # as sent: a path, or an absolute URL when used as a proxy
    path: str  # path and query
    headers: dict[str, str]
    status: int = 0
    bytes_sent: int = 0  # body bytes only
    via_proxy: bool = False
    client_port: int = 0  # the same port for requests on one keep-alive connection


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    # --- dispatch -------------------------------------------------------------------------

    def _serve(self, *, head: bool) -> None:
        target = self.path
        via_proxy = "://" in target.split("?", 1)[0]
        parts = urlsplit(target)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        record = RequestRecord(
            method=self.command,
            target=target,
            path=path,
            headers={key: value for key, value in self.headers.items()},
            via_proxy=via_proxy,
            client_port=self.client_address[1],
        )
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(record)
        resource = owner.resolve(path)
        try:
            self._respond(resource, record, head=head)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError, OSError):
            self.close_connection = True

    def _respond(self, resource: Resource | None, record: RequestRecord, *, head: bool) -> None:
        stop = self.server.owner.stop_event
        if resource is None:
            self._simple(record, 404, b"not found\n")
            return
        if resource.delay and stop.wait(resource.delay):
            self.close_connection = True
            return
        if resource.auth is not None and not self._authorised(resource.auth):
            self._simple(
                record, 401, b"authorisation required\n", {"WWW-Authenticate": 'Basic realm="t"'}
            )
            return
        if resource.location is not None:
            self._simple(record, resource.status, b"", {"Location": resource.location})
            return
        if resource.status != 200:
            self._simple(record, resource.status, resource.body)
            return
        etag = resource.etag_value()
        last_modified = resource.last_modified_value()
        if self._not_modified(etag, last_modified):
            self._start(record, 304, self._validators(etag, last_modified))
            self.end_headers()
            return
        if resource.endless:
            self._endless(resource, record)
            return
        total = resource.length()
        start, stop = 0, total
        status, extra = 200, self._validators(etag, last_modified)
        byte_range = self._range(resource, etag, last_modified)
        if byte_range == "unsatisfiable":
            self._simple(record, 416, b"", {"Content-Range": f"bytes */{total}"})
            return
        if isinstance(byte_range, tuple):
            start, end = byte_range
            stop, status = end + 1, 206
            extra["Content-Range"] = f"bytes {start}-{end}/{total}"
        extra["Content-Type"] = resource.content_type
        extra.update(resource.headers)
        size = stop - start
        length = resource.content_length if resource.content_length is not None else size
        extra["Content-Length"] = str(length)
        if resource.ranges:
            extra["Accept-Ranges"] = "bytes"
        self._start(record, status, extra)
        self.end_headers()
        if head:
            return
        if length != size:
            self.close_connection = True  # a lie leaves the stream unusable either way
        if resource.plain():
            self._sendfile(resource, record, start, stop)
            return
        self._send_body(resource, record, start, stop)

    # --- pieces ---------------------------------------------------------------------------

    def _authorised(self, credentials: tuple[str, str]) -> bool:
        header = self.headers.get("Authorization", "")
        expected = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        return header == f"Basic {expected}"

    def _validators(self, etag: str | None, last_modified: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        return headers

    def _not_modified(self, etag: str | None, last_modified: str | None) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = [tag.strip() for tag in if_none_match.split(",")]
            return etag is not None and (etag in tags or "*" in tags)
        since = self.headers.get("If-Modified-Since")
        if since and last_modified:
            try:
                return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
        return False

    def _range(
        self, resource: Resource, etag: str | None, last_modified: str | None
    ) -> tuple[int, int] | str | None:
        header = self.headers.get("Range")
        if not header or not resource.ranges:
            return None
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range not in (etag, last_modified):
            return None  # the client's copy is stale: send it all
        match = _RANGE.match(header.strip())
        if match is None:
            return None
        size = resource.length()
        first, last = match.groups()
        if first == "":
            if last == "":
                return None
            start, end = max(0, size - int(last)), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            return "unsatisfiable"
        return start, end

    def _start(self, record: RequestRecord, status: int, headers: dict[str, str]) -> None:
        record.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)

    def _simple(
        self,
        record: RequestRecord,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._start(record, status, {**(headers or {}), "Content-Length": str(len(body))})
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
            record.bytes_sent += len(body)

    def _write(self, record: RequestRecord, data: bytes, rate: float | None) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        record.bytes_sent += len(data)
        if rate:
            time.sleep(len(data) / rate)

    def _send_body(self, resource: Resource, record: RequestRecord, start: int, stop: int) -> None:
        """Send body bytes ``start``..``stop``, with the resource's throttle, stall or drop."""
        halt = self.server.owner.stop_event
        size = stop - start
        faulty = resource.take_fault()
        limit = size
        for cut in (resource.stall_after, resource.drop_after):
            if cut is not None and faulty:
                limit = min(limit, cut)
        step = resource.chunk_size
        if resource.rate:
            step = max(1, min(step, int(resource.rate / 20) or 1))
        for offset in range(0, limit, step):
            if halt.is_set():
                self.close_connection = True
                return
            chunk = resource.read(start + offset, start + min(offset + step, limit))
            self._write(record, chunk, resource.rate)
        if faulty and resource.stall_after is not None and resource.stall_after < size:
            halt.wait(resource.stall_for)
            self.close_connection = True
            return
        if faulty and resource.drop_after is not None and resource.drop_after < size:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _sendfile(self, resource: Resource, record: RequestRecord, start: int, stop: int) -> None:
        assert resource.file is not None
        self.wfile.flush()
        with resource.file.open("rb") as handle:
            offset = start
            while offset < stop:
                count = min(_SENDFILE_STEP, stop - offset)
                sent = self.connection.sendfile(handle, offset, count)
                if sent <= 0:
                    break
                offset += sent
                record.bytes_sent += sent

    def _endless(self, resource: Resource, record: RequestRecord) -> None:
        chunk = resource.body or bytes(resource.chunk_size)
        self._start(record, 200, {"Content-Type": resource.content_type, "Connection": "close"})
        self.end_headers()
        self.close_connection = True
        stop = self.server.owner.stop_event
        while not stop.is_set():
            self._write(record, chunk, resource.rate)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: HttpServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        with self.owner.lock:
            self.owner.errors.append(repr(sys.exc_info()[1]))

    def finish_request(self, request: Any, client_address: Any) -> None:
        # As production servers do: no Nagle delay between the headers and a small body.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self.owner.tls
        if context is not None:
            try:
                request = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate, or went away
        super().finish_request(request, client_address)


class HttpServer:
    """The server; a context manager that starts it on 127.0.0.1 at a free port."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.tls = tls
        self.host = host
        self.resources: dict[str, Resource] = {}
        self.directories: dict[str, Path] = {}
        self.requests: list[RequestRecord] = []
        self.errors: list[str] = []  # exceptions raised while handling requests
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self._mount_options: dict[str, Any] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> HttpServer:
        server = _Server((self.host, 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        port: int = self._server.server_address[1]
        return port

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else f"/{path}")

    # --- content -----------------------------------------------------------------------------

    def put(self, path: str, body: bytes | Resource = b"", **options: Any) -> Resource:
        """Serve ``body`` (or a ready Resource) at ``path`` (a query string makes its own route)."""
        resource = body if isinstance(body, Resource) else Resource(body=body, **options)
        with self.lock:
            self.resources[path] = resource
        return resource

    def remove(self, path: str) -> None:
        with self.lock:
            self.resources.pop(path, None)

    def mount(self, prefix: str, directory: Path, **options: Any) -> None:
        """Serve the files under ``directory`` at ``prefix``/<relative path>."""
        self.directories[prefix.rstrip("/") + "/"] = Path(directory)
        self._mount_options = options

    def resolve(self, path: str) -> Resource | None:
        with self.lock:
            found = self.resources.get(path) or self.resources.get(path.split("?", 1)[0])
        if found is not None:
            return found
        bare = path.split("?", 1)[0]
        for prefix, directory in self.directories.items():
            if bare.startswith(prefix):
                candidate = (directory / bare[len(prefix) :]).resolve()
                if candidate.is_relative_to(directory.resolve()) and candidate.is_file():
                    return Resource(file=candidate, **self._mount_options)
        return None

    # --- what happened -----------------------------------------------------------------------

    def requests_for(self, path: str) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.requests if r.path == path or r.path.split("?")[0] == path]

    def hits(self, path: str) -> int:
        return len(self.requests_for(path))

    def bytes_sent(self, path: str | None = None) -> int:
        with self.lock:
            records = list(self.requests)
        return sum(r.bytes_sent for r in records if path is None or r.path.split("?")[0] == path)

    def statuses(self, path: str) -> list[int]:
        return [r.status for r in self.requests_for(path)]

    def iter_requests(self) -> Iterator[RequestRecord]:
        with self.lock:
            yield from list(self.requests)


# --- TLS material ------------------------------------------------------------------------------


def make_server_certificate(
    issuer: Credential,
    *,
    names: tuple[str, ...] = ("127.0.0.1", "localhost"),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    subject: str | None = None,
) -> tuple[bytes, bytes]:
    """A TLS server certificate for ``names`` issued by ``issuer``: (cert PEM, key PEM).

    The subject is ``subject`` (one-line form), by default ``/CN=<first name>`` under the issuer's
    own namespace prefix (as IGTF host certificates are), e.g. ``/DC=org/DC=x/CN=127.0.0.1``.
    """
    now = dt.datetime.now(dt.UTC)
    if subject is None:
        subject = issuer.subject_oneline.rsplit("/", 1)[0] + f"/CN={names[0]}"
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(parse_oneline(subject))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def server_tls_context(cert_pem: bytes, key_pem: bytes, chain_pem: bytes = b"") -> ssl.SSLContext:
    """A server-side SSLContext presenting ``cert_pem`` (plus ``chain_pem`` intermediates)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="imagelist-tls-") as tmp:
        cert_file = Path(tmp) / "cert.pem"
        key_file = Path(tmp) / "key.pem"
        cert_file.write_bytes(cert_pem + chain_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


def http_date(when: dt.datetime) -> str:
    """An HTTP date (RFC 9110) for ``when``."""
    return format_datetime(when.astimezone(dt.UTC), usegmt=True)
