"""Which https servers the list fetcher trusts: the system CAs, and IGTF CAs within their namespace.

vmcatcher's IGTF trust directory holds the grid CAs that may sign *image lists*; each comes with
``.namespaces``/``.signing_policy`` files that limit the subjects it may sign. Putting those CAs
into an ordinary CA bundle would let any IGTF CA vouch for any host name. Instead every https
connection is verified in two steps, before a single byte of the request (or a credential) is
sent:

1. against the **system trust store** (``SSL_CERT_FILE`` or OpenSSL's default bundle, else
   certifi's); a server a public CA vouches for is accepted as any browser would;
2. only if that fails, and the IGTF part is on, against the CAs of the **trust directory**;
   the server certificate must then also be inside the namespace of the CA that issued it
   (every rendering of its subject permitted by every policy of that CA:
   :func:`imagelist.trust.chain.check_namespace`, the rule list signers are held to), and
   each CA of the directory above it inside the namespace of its own issuer. An issuing CA
   without any policy file is refused: it has no namespace to be held to.

Host names are checked in both steps. ``VMCATCHER_HTTPS_IGTF=no`` (or ``Fetcher(...,
igtf_https=False)``) turns step 2 off, leaving the system store alone.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.util.ssltransport import SSLTransport

from .errors import NamespacePolicyError
from .trust.chain import check_namespace
from .trust.dn import name_oneline
from .trust.store import TrustedCA, TrustStore

__all__ = [
    "IGTF_HTTPS_ENV",
    "HttpsTrust",
    "NamespaceRefused",
    "igtf_https_enabled",
    "system_ca_bundle",
]

logger = logging.getLogger(__name__)

#: ``no`` (or ``0``/``false``/``off``) stops trusting the IGTF directory for https servers.
IGTF_HTTPS_ENV = "VMCATCHER_HTTPS_IGTF"
_OFF = frozenset({"0", "no", "false", "off"})
_MAX_DEPTH = 10


def igtf_https_enabled(environ: Mapping[str, str]) -> bool:
    """False when ``$VMCATCHER_HTTPS_IGTF`` says no; True otherwise (the default)."""
    return environ.get(IGTF_HTTPS_ENV, "yes").strip().lower() not in _OFF


def system_ca_bundle() -> Path | None:
    """The system CA bundle (as OpenSSL finds it, ``SSL_CERT_FILE`` honoured), else certifi's."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None
    return Path(certifi.where())


class NamespaceRefused(ssl.SSLCertVerificationError):
    """An IGTF-issued server certificate outside its CA's namespace (reported as verify failed)."""

    def __init__(self, message: str) -> None:
        super().__init__(1, message)
        self.verify_code = 0
        self.verify_message = message
        self.reason = "CERTIFICATE_VERIFY_FAILED"
        self.library = "SSL"


def _issuing_ca(store: TrustStore, cert: x509.Certificate) -> TrustedCA | None:
    """The directory CA whose key signed ``cert`` (subject DN match and signature)."""
    for ca in store.issuers_of(cert):
        try:
            cert.verify_directly_issued_by(ca.certificate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return ca
    return None


def _check_subject(cert: x509.Certificate, issuer: TrustedCA) -> None:
    if not issuer.policies:
        raise NamespaceRefused(
            f"server certificate {name_oneline(cert.subject.public_bytes())} is issued by IGTF "
            f"CA {issuer.subject}, which has no namespace policy in the trust directory"
        )
    try:
        check_namespace(cert, issuer)  # the rule list signers are held to
    except NamespacePolicyError as exc:
        raise NamespaceRefused(f"server certificate {exc}") from None


def check_server_certificate(store: TrustStore, der: bytes) -> None:
    """Raise NamespaceRefused unless the certificate and its CAs keep to the IGTF namespaces."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise NamespaceRefused("the server certificate cannot be parsed") from None
    for _ in range(_MAX_DEPTH):
        issuer = _issuing_ca(store, cert)
        if issuer is None:
            raise NamespaceRefused(
                f"server certificate {name_oneline(cert.subject.public_bytes())} is not issued "
                "by a CA of the trust directory (intermediates must be in the directory)"
            )
        _check_subject(cert, issuer)
        if issuer.self_signed:
            return
        cert = issuer.certificate
    raise NamespaceRefused("the server certificate's CA path is too long")


class HttpsTrust:
    """The two SSL contexts (system, IGTF) and the namespace check between them.

    The contexts are built on first use (loading the system bundle costs about 0.1 s), so a run
    that reads only http or file URLs never pays for them.
    """

    def __init__(self, store: TrustStore | None, *, igtf: bool = True) -> None:
        self.store = store if igtf and store is not None and len(store) else None

    @functools.cached_property
    def system(self) -> ssl.SSLContext:
        bundle = system_ca_bundle()
        return ssl.create_default_context(cafile=str(bundle) if bundle else None)

    @functools.cached_property
    def igtf(self) -> ssl.SSLContext | None:
        if self.store is None:
            return None
        pem = "".join(
            ca.certificate.public_bytes(Encoding.PEM).decode("ascii") for ca in self.store.cas
        )
        return ssl.create_default_context(cadata=pem)

    def adapter(self) -> HTTPAdapter:
        """A requests adapter whose https connections are verified by :meth:`connect`."""
        return _TrustAdapter(self)


class _TrustedConnection(HTTPSConnection):
    """An HTTPSConnection that ignores the caller's CA settings and applies an HttpsTrust."""

    trust: HttpsTrust

    def _use(self, context: ssl.SSLContext) -> None:
        self.ssl_context = context
        self.ca_certs = self.ca_cert_dir = None
        self.ca_cert_data = None
        self.cert_reqs = "CERT_REQUIRED"
        self.assert_hostname = None
        self.assert_fingerprint = None

    def connect(self) -> None:
        trust = self.trust
        self._use(trust.system)
        try:
            super().connect()
            return
        except ssl.SSLCertVerificationError as exc:
            if trust.igtf is None or trust.store is None:
                raise
            logger.debug("%s: not trusted by the system CAs (%s)", self.host, exc.verify_message)
            # close() forgets a proxy tunnel: keep it for the second handshake.
            tunnel = (self._tunnel_host, self._tunnel_port, self._tunnel_scheme)
            self.close()
            self._tunnel_host, self._tunnel_port, self._tunnel_scheme = tunnel
        self._use(trust.igtf)
        super().connect()
        try:
            sock = self.sock
            tls = isinstance(sock, ssl.SSLSocket | SSLTransport)
            der = sock.getpeercert(binary_form=True) if tls else None  # type: ignore[union-attr]
            if not der:
                raise NamespaceRefused("the server sent no certificate")
            check_server_certificate(trust.store, der)
        except BaseException:
            self.close()
            raise
        logger.debug("%s: trusted through the IGTF directory", self.host)


class _TrustAdapter(HTTPAdapter):
    def __init__(self, trust: HttpsTrust) -> None:
        connection = type("TrustedConnection", (_TrustedConnection,), {"trust": trust})
        self._pool_class = type(
            "TrustedConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": connection}
        )
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            **self.poolmanager.pool_classes_by_scheme,
            "https": self._pool_class,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if proxy.lower().startswith("socks"):
            raise ValueError(f"SOCKS proxies are not supported ({proxy.split('://')[0]})")
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {
            **manager.pool_classes_by_scheme,
            "https": self._pool_class,
        }
        return manager
