"""A small test PKI laid out like an IGTF trust directory (``/etc/grid-security/certificates``).

Everything here is test support: certificates and CRLs are made with ``cryptography``; the
OpenSSL binary is used to compute what the tools under test compare with (the one-line DN form and
the ``<subject hash>`` file names) and as the S/MIME oracle (:func:`openssl_smime_sign`,
:func:`openssl_smime_verify`).

An IGTF directory written by :class:`IgtfDirectory` mimics the ``ca-policy-egi-core`` packages plus
fetch-crl: per CA ``<alias>.pem``, ``<alias>.signing_policy``, ``<alias>.namespaces``,
``<alias>.info`` and ``<alias>.crl_url``, each with a ``<hash>.<ext>`` symlink (``<hash>.0`` for the
certificate), and the CRL as a regular file ``<hash>.r0``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_KEY_USAGE",
    "DEFAULT_EKU",
    "DEFAULT_KEY_USAGE",
    "ENDORSER_PREFIX",
    "INTERMEDIATE_DN",
    "ROOT_DN",
    "UNTRUSTED_ROOT_DN",
    "V1_ROOT_DN",
    "Credential",
    "IgtfDirectory",
    "PrivateKey",
    "TestPki",
    "build_test_pki",
    "cached_key",
    "default_subject_patterns",
    "make_crl",
    "make_endorser",
    "make_intermediate_ca",
    "make_root_ca",
    "namespaces_text",
    "openssl_available",
    "openssl_path",
    "openssl_smime_sign",
    "openssl_smime_verify",
    "parse_oneline",
    "signing_policy_text",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KeyType = Literal["rsa", "ec"]

# --------------------------------------------------------------------------------------------
# OpenSSL binary


def openssl_path() -> str | None:
    """The ``openssl`` binary to use (``$IMAGELIST_OPENSSL`` or the one on ``PATH``), if any."""
    explicit = os.environ.get("IMAGELIST_OPENSSL")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("openssl")


def openssl_available() -> bool:
    """Whether an ``openssl`` binary can be run."""
    path = openssl_path()
    if path is None:
        return False
    try:
        proc = subprocess.run([path, "version"], capture_output=True, check=False, timeout=30)
    except OSError:
        return False
    return proc.returncode == 0


def _openssl() -> str:
    path = openssl_path()
    if path is None:
        raise RuntimeError("the test PKI needs the openssl binary (subject hashes, one-line DNs)")
    return path


def _run_openssl(args: Sequence[str], *, input: bytes | None = None) -> bytes:
    proc = subprocess.run(
        [_openssl(), *args], input=input, capture_output=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace")
        raise RuntimeError(f"openssl {' '.join(args)} failed ({proc.returncode}): {reason}")
    return proc.stdout


@dataclass(frozen=True)
class _CertFacts:
    subject_hash: str
    subject_oneline: str
    issuer_oneline: str


def _cert_facts(cert_pem: bytes) -> _CertFacts:
    """Subject hash and one-line subject/issuer, as ``openssl x509`` prints them."""
    out = _run_openssl(
        ["x509", "-noout", "-subject_hash", "-subject", "-issuer", "-nameopt", "compat"],
        input=cert_pem,
    ).decode("ascii")
    subject = issuer = subject_hash = None
    for line in out.splitlines():
        if line.startswith("subject="):
            subject = line.removeprefix("subject=")
        elif line.startswith("issuer="):
            issuer = line.removeprefix("issuer=")
        elif re.fullmatch(r"[0-9a-f]{8}", line):
            subject_hash = line
    if subject is None or issuer is None or subject_hash is None:
        raise RuntimeError(f"unexpected openssl x509 output: {out!r}")
    return _CertFacts(subject_hash, subject, issuer)


# --------------------------------------------------------------------------------------------
# Keys and names

_KEY_CACHE: dict[tuple[str, str], PrivateKey] = {}


def cached_key(key_type: KeyType = "rsa", label: str = "default") -> PrivateKey:
    """A private key, generated once per process for each ``(key_type, label)``.

    RSA 2048 generation is slow-ish (~50 ms); credentials that should have distinct keys must use
    distinct labels (the builders use the subject DN, so two CAs with the same DN share a key unless
    a ``key=`` is passed explicitly).
    """
    slot = (key_type, label)
    key = _KEY_CACHE.get(slot)
    if key is None:
        if key_type == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif key_type == "ec":
            key = ec.generate_private_key(ec.SECP256R1())
        else:  # pragma: no cover - guarded by the Literal type
            raise ValueError(f"unknown key type {key_type!r}")
        _KEY_CACHE[slot] = key
    return key


_ONELINE_OIDS: dict[str, x509.ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "DC": NameOID.DOMAIN_COMPONENT,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "UID": NameOID.USER_ID,
}


def parse_oneline(name: str | x509.Name) -> x509.Name:
    """``/DC=org/DC=example/CN=Foo`` to an :class:`x509.Name` (certificate order kept).

    Only for the simple ASCII names of the fixtures: no ``/``, ``+`` or escapes inside values.
    """
    if isinstance(name, x509.Name):
        return name
    if not name.startswith("/"):
        raise ValueError(f"not a one-line DN: {name!r}")
    rdns = []
    for part in name[1:].split("/"):
        attr, sep, value = part.partition("=")
        if not sep or attr not in _ONELINE_OIDS:
            raise ValueError(f"unsupported DN component {part!r} in {name!r}")
        rdns.append(
            x509.RelativeDistinguishedName([x509.NameAttribute(_ONELINE_OIDS[attr], value)])
        )
    return x509.Name(rdns)


# --------------------------------------------------------------------------------------------
# Credentials


@dataclass(frozen=True)
class Credential:
    """A certificate with its private key and the DN strings the image list tools compare."""

    cert: x509.Certificate
    key: PrivateKey
    cert_pem: bytes
    key_pem: bytes  # unencrypted PKCS#8
    subject_oneline: str  # as `openssl x509 -noout -subject -nameopt compat` prints it
    issuer_oneline: str
    subject_hash: str  # `openssl x509 -noout -subject_hash`: the IGTF file name stem

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    @property
    def is_self_signed(self) -> bool:
        return self.cert.subject == self.cert.issuer

    def write(self, directory: Path | str) -> tuple[Path, Path]:
        """Write ``cert.pem`` and ``key.pem`` (mode 0600) into ``directory``; return both paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path = directory / "cert.pem"
        key_path = directory / "key.pem"
        cert_path.write_bytes(self.cert_pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


def _credential(cert: x509.Certificate, key: PrivateKey) -> Credential:
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    facts = _cert_facts(cert_pem)
    return Credential(
        cert=cert,
        key=key,
        cert_pem=cert_pem,
        key_pem=key_pem,
        subject_oneline=facts.subject_oneline,
        issuer_oneline=facts.issuer_oneline,
        subject_hash=facts.subject_hash,
    )


DEFAULT_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,  # nonRepudiation
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
DEFAULT_EKU: tuple[x509.ObjectIdentifier, ...] = (
    ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ExtendedKeyUsageOID.CLIENT_AUTH,
)


def _sign_hash(key: PrivateKey) -> hashes.SHA256:
    return hashes.SHA256()


def _aki(issuer: Credential) -> x509.AuthorityKeyIdentifier | None:
    """AKI for things ``issuer`` signs; None when the issuer has no SKI (an X.509 v1 CA)."""
    try:
        ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_builder(
    subject: x509.Name,
    issuer_name: x509.Name,
    key: PrivateKey,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    serial: int | None,
    path_length: int | None,
    aki: x509.AuthorityKeyIdentifier | None,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if aki is not None:
        builder = builder.add_extension(aki, critical=False)
    return builder


def _v1_self_signed(
    subject: x509.Name,
    key: PrivateKey,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    serial: int,
) -> x509.Certificate:
    """An X.509 v1 self-signed certificate (no extensions), which cryptography cannot build.

    The TBSCertificate is assembled with asn1crypto (``version`` v1 is the DEFAULT, so it is
    omitted from the DER) and signed with the cryptography key.
    """
    algorithm = "sha256_rsa" if isinstance(key, rsa.RSAPrivateKey) else "sha256_ecdsa"
    asn1_name = asn1_x509.Name.load(subject.public_bytes())
    spki = asn1_keys.PublicKeyInfo.load(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v1",
            "serial_number": serial,
            "signature": {"algorithm": algorithm},
            "issuer": asn1_name,
            "validity": {
                "not_before": asn1_x509.Time({"utc_time": not_before}),
                "not_after": asn1_x509.Time({"utc_time": not_after}),
            },
            "subject": asn1_name,
            "subject_public_key_info": spki,
        }
    )
    tbs_der = tbs.dump()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    cert = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": algorithm},
            "signature_value": signature,
        }
    )
    loaded = x509.load_der_x509_certificate(cert.dump())
    assert loaded.version is x509.Version.v1
    return loaded


def make_root_ca(
    name: str | x509.Name,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_type: KeyType = "rsa",
    version1: bool = False,
    key: PrivateKey | None = None,
    serial: int | None = None,
) -> Credential:
    """A self-signed root CA (v3 with CA extensions, or a bare X.509 v1 cert if ``version1``)."""
    subject = parse_oneline(name)
    if key is None:
        key = cached_key(key_type, subject.rfc4514_string())
    if serial is None:
        serial = x509.random_serial_number()
    if version1:
        cert = _v1_self_signed(
            subject, key, not_before=not_before, not_after=not_after, serial=serial
        )
        return _credential(cert, key)
    builder = _ca_builder(
        subject,
        subject,
        key,
        not_before=not_before,
        not_after=not_after,
        serial=serial,
        path_length=None,
        aki=x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
    )
    return _credential(builder.sign(key, _sign_hash(key)), key)


def make_intermediate_ca(
    parent: Credential,
    name: str | x509.Name,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_type: KeyType = "rsa",
    key: PrivateKey | None = None,
    serial: int | None = None,
    path_length: int | None = 0,
) -> Credential:
    """A subordinate CA signed by ``parent`` (pathlen 0 by default: it issues end entities only)."""
    subject = parse_oneline(name)
    if key is None:
        key = cached_key(key_type, subject.rfc4514_string())
    builder = _ca_builder(
        subject,
        parent.cert.subject,
        key,
        not_before=not_before,
        not_after=not_after,
        serial=serial,
        path_length=path_length,
        aki=_aki(parent),
    )
    return _credential(builder.sign(parent.key, _sign_hash(parent.key)), key)


def make_endorser(
    issuer: Credential,
    name: str | x509.Name,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_usage: x509.KeyUsage | None = DEFAULT_KEY_USAGE,
    extended_key_usage: Iterable[x509.ObjectIdentifier] | None = DEFAULT_EKU,
    serial: int | None = None,
    key_type: KeyType = "rsa",
    key: PrivateKey | None = None,
) -> Credential:
    """An end-entity (image list signer) certificate issued by ``issuer``.

    Defaults: basicConstraints CA:FALSE (critical), keyUsage digitalSignature+nonRepudiation
    (critical), EKU emailProtection+clientAuth, SKI and AKI. ``key_usage=None`` or
    ``extended_key_usage=None`` leaves that extension out.
    """
    subject = parse_oneline(name)
    if key is None:
        key = cached_key(key_type, subject.rfc4514_string())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    if extended_key_usage is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False
        )
    aki = _aki(issuer)
    if aki is not None:
        builder = builder.add_extension(aki, critical=False)
    return _credential(builder.sign(issuer.key, _sign_hash(issuer.key)), key)


def make_crl(
    issuer: Credential,
    *,
    revoked_serials: Iterable[int] = (),
    last_update: dt.datetime,
    next_update: dt.datetime,
    crl_number: int = 1,
    revocation_date: dt.datetime | None = None,
) -> x509.CertificateRevocationList:
    """A v2 CRL signed by ``issuer`` with CRL number and (if the issuer has an SKI) AKI."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(last_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
    )
    aki = _aki(issuer)
    if aki is None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
    builder = builder.add_extension(aki, critical=False)
    when = revocation_date if revocation_date is not None else last_update
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(issuer.key, _sign_hash(issuer.key))


# --------------------------------------------------------------------------------------------
# IGTF trust directory


def default_subject_patterns(ca_dn: str) -> tuple[str, str]:
    """The CA's own namespace: (signing_policy glob, namespaces regex).

    ``/DC=org/DC=example/CN=Some CA`` gives ``/DC=org/DC=example/*`` and ``/DC=org/DC=example/.*``.
    """
    prefix = ca_dn.rsplit("/", 1)[0] + "/"
    return prefix + "*", prefix + ".*"


def signing_policy_text(ca_dn: str, patterns: Sequence[str]) -> str:
    """A Globus ``<hash>.signing_policy`` file (EACL) allowing ``patterns`` (globs)."""
    quoted = " ".join(f'"{p}"' for p in patterns)
    return (
        "# ca-signing-policy.conf, see ca-signing-policy.doc for more information\n"
        "#\n"
        "# This is the configuration file describing the policy for what CAs are\n"
        "# allowed to sign whoses certificates.\n"
        "#\n"
        f"access_id_CA      X509         '{ca_dn}'\n"
        "pos_rights        globus        CA:sign\n"
        f"cond_subjects     globus       '{quoted}'\n"
    )


def namespaces_text(ca_dn: str, patterns: Sequence[str], *, subject_hash: str = "") -> str:
    """An EACL ``<hash>.namespaces`` file permitting subjects matching ``patterns`` (regexes)."""
    lines = [
        "##############################################################################",
        "#NAMESPACES-VERSION: 1.0",
        "#",
        "# imagelist test PKI",
        f"#    subjectDN: {ca_dn}",
        f"#    hash     : {subject_hash}",
        "#",
    ]
    for pattern in patterns:
        lines.append(f'TO Issuer "{ca_dn}" \\')
        lines.append(f'  PERMIT Subject "{pattern}"')
        lines.append("")
    return "\n".join(lines) + "\n"


def _alias_for(cred: Credential) -> str:
    cn = cred.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    base = str(cn[-1].value) if cn else cred.subject_hash
    alias = re.sub(r"[^A-Za-z0-9-]", "", base)
    return alias or cred.subject_hash


def _sha1_fingerprint(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA1()))  # fingerprint, as in .info


@dataclass
class IgtfDirectory:
    """Builds an IGTF-style trust directory at ``path``.

    With ``symlinks=True`` (what the IGTF RPM/deb packages install) the payload files are named
    after an alias and the ``<hash>.*`` names are relative symlinks to them, so a loader that scans
    ``*.pem`` and ``*.0`` sees every CA twice (as the original tools did). With ``symlinks=False``
    only the ``<hash>.*`` files are written (a flat c_rehash-like layout).
    """

    path: Path
    symlinks: bool = True
    entries: dict[str, Path] = field(default_factory=dict)  # subject_oneline -> <hash>.N path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def _free_index(self, subject_hash: str) -> int:
        index = 0
        while (self.path / f"{subject_hash}.{index}").exists() or (
            self.path / f"{subject_hash}.{index}"
        ).is_symlink():
            index += 1
        return index

    def _put(self, hashed_name: str, alias_name: str, data: bytes) -> Path:
        """Write ``data`` as ``alias_name`` + a ``hashed_name`` symlink, or just ``hashed_name``."""
        hashed = self.path / hashed_name
        if self.symlinks:
            (self.path / alias_name).write_bytes(data)
            if hashed.is_symlink() or hashed.exists():
                hashed.unlink()
            hashed.symlink_to(alias_name)
        else:
            hashed.write_bytes(data)
        return hashed

    def add_ca(
        self,
        cred: Credential,
        *,
        crl: x509.CertificateRevocationList | None = None,
        signing_policy: bool | str = True,
        namespaces: bool | str = True,
        crl_format: Literal["pem", "der"] = "pem",
        alias: str | None = None,
        crl_url: str | None = None,
    ) -> Path:
        """Install a CA; return its ``<hash>.N`` path.

        ``signing_policy``/``namespaces``: True writes the default policy (subjects under the CA's
        own namespace prefix), False writes none, a string is written verbatim as the file.
        ``crl=None`` installs no ``<hash>.rN``.
        """
        alias = alias or _alias_for(cred)
        h = cred.subject_hash
        index = self._free_index(h)
        dn = cred.subject_oneline
        glob, regex = default_subject_patterns(dn)
        url = crl_url or f"http://crl.imagelist-test.example/{alias}.crl"

        cert_path = self._put(f"{h}.{index}", f"{alias}.pem", cred.cert_pem)
        if signing_policy is not False:
            text = signing_policy_text(dn, [glob]) if signing_policy is True else signing_policy
            self._put(f"{h}.signing_policy", f"{alias}.signing_policy", text.encode())
        if namespaces is not False:
            text = (
                namespaces_text(dn, [regex], subject_hash=h) if namespaces is True else namespaces
            )
            self._put(f"{h}.namespaces", f"{alias}.namespaces", text.encode())
        self._put(f"{h}.crl_url", f"{alias}.crl_url", f"{url}\n".encode())
        info = (
            f"alias = {alias}\n"
            f"crl_url = {url}\n"
            "email = ca@imagelist-test.example\n"
            "status = accredited:classic\n"
            "url = https://ca.imagelist-test.example/\n"
            "version = 1.0-1\n"
            f"sha1fp.0 = {_sha1_fingerprint(cred.cert)}\n"
            f'subjectdn = "{dn}"\n'
        )
        self._put(f"{h}.info", f"{alias}.info", info.encode())
        if crl is not None:
            self.write_crl(cred, crl, crl_format=crl_format, index=index)
        self.entries[dn] = cert_path
        return cert_path

    def write_crl(
        self,
        cred: Credential,
        crl: x509.CertificateRevocationList,
        *,
        crl_format: Literal["pem", "der"] = "pem",
        index: int = 0,
    ) -> Path:
        """Write (or replace) ``<hash>.r<index>`` as a regular file, like fetch-crl does."""
        encoding = serialization.Encoding.PEM if crl_format == "pem" else serialization.Encoding.DER
        target = self.path / f"{cred.subject_hash}.r{index}"
        target.write_bytes(crl.public_bytes(encoding))
        return target


# --------------------------------------------------------------------------------------------
# OpenSSL as the S/MIME oracle


def openssl_smime_sign(
    openssl: str,
    cred: Credential,
    payload: bytes,
    *,
    md: str = "sha256",
    nodetach: bool = False,
    extra_certs: Sequence[Credential] = (),
    second_signer: Credential | None = None,
) -> bytes:
    """Sign ``payload`` like vmcaster does (clear-signed, text mode), with the openssl CLI.

    One signer: ``openssl smime -sign`` (``application/x-pkcs7-signature``). With
    ``second_signer``: ``openssl cms -sign`` with two ``-signer``/``-inkey`` pairs, S/MIME output.
    ``extra_certs`` go into the PKCS#7 certificate set (``-certfile``).
    """
    with tempfile.TemporaryDirectory(prefix="imagelist-sign-") as tmp:
        tmpdir = Path(tmp)
        cert1, key1 = cred.write(tmpdir / "signer1")
        command = "cms" if second_signer is not None else "smime"
        args = [openssl, command, "-sign", "-signer", str(cert1), "-inkey", str(key1)]
        if second_signer is not None:
            cert2, key2 = second_signer.write(tmpdir / "signer2")
            args += ["-signer", str(cert2), "-inkey", str(key2)]
        args += ["-md", md]
        if nodetach:
            args.append("-nodetach")
        if extra_certs:
            certfile = tmpdir / "extra.pem"
            certfile.write_bytes(b"".join(c.cert_pem for c in extra_certs))
            args += ["-certfile", str(certfile)]
        payload_path = tmpdir / "payload"
        payload_path.write_bytes(payload)
        args += ["-in", str(payload_path)]
        proc = subprocess.run(args, capture_output=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[1:3])} failed ({proc.returncode}): "
            f"{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


def openssl_smime_verify(
    openssl: str,
    signed: bytes,
    capath: Path,
    *,
    crl_check_all: bool = True,
    attime: int | None = None,
    purpose: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``openssl smime -verify -CApath capath [-crl_check_all] [-attime T]`` on ``signed``.

    The default CA file and store are switched off (``-no-CAfile -no-CAstore``), so only
    ``capath`` is trusted, like the X509_STORE the original tools built. The purpose is the
    smime default (smimesign) unless ``purpose`` is given. ``stdout`` holds the verified content
    (canonical CRLF form for a clear-signed message), ``returncode`` is 0 on success and
    ``stderr`` carries OpenSSL's reason.
    """
    args = [
        openssl,
        "smime",
        "-verify",
        "-CApath",
        str(capath),
        "-no-CAfile",
        "-no-CAstore",
    ]
    if crl_check_all:
        args.append("-crl_check_all")
    if attime is not None:
        args += ["-attime", str(attime)]
    if purpose is not None:
        args += ["-purpose", purpose]
    return subprocess.run(args, input=signed, capture_output=True, check=False, timeout=60)


# --------------------------------------------------------------------------------------------
# The standard fixture PKI

ROOT_DN = "/DC=org/DC=imagelist-test/CN=Test Root CA"
INTERMEDIATE_DN = "/DC=org/DC=imagelist-test/CN=Test Intermediate CA"
ENDORSER_PREFIX = "/DC=org/DC=imagelist-test/O=Endorsers/CN="
UNTRUSTED_ROOT_DN = "/DC=org/DC=imagelist-untrusted/CN=Untrusted Root CA"
V1_ROOT_DN = "/DC=org/DC=imagelist-v1/CN=Test V1 Root CA"


@dataclass(frozen=True)
class TestPki:
    """The session PKI (see :func:`build_test_pki`). All dates are relative to ``now``."""

    __test__ = False  # not a pytest test class

    now: dt.datetime
    base_dir: Path
    root: Credential
    intermediate: Credential
    root_crl: x509.CertificateRevocationList
    intermediate_crl: x509.CertificateRevocationList
    # endorsers issued by the intermediate unless noted
    good: Credential
    revoked: Credential
    expired: Credential
    not_yet_valid: Credential
    wrong_key_usage: Credential
    wrong_eku: Credential
    outside_namespace: Credential
    direct: Credential  # issued by the root
    impostor: Credential  # issuer DN = the intermediate's DN, but signed by another key
    untrusted_root: Credential
    untrusted_endorser: Credential
    v1_root: Credential
    v1_endorser: Credential
    v1_root_crl: x509.CertificateRevocationList
    # trust directories
    trust_dir: Path
    stale_crl_dir: Path
    missing_crl_dir: Path
    no_root_crl_dir: Path
    der_crl_dir: Path
    v1_root_dir: Path
    creds_dir: Path  # <name>/cert.pem and <name>/key.pem for every credential above

    def cert_path(self, name: str) -> Path:
        return self.creds_dir / name / "cert.pem"

    def key_path(self, name: str) -> Path:
        return self.creds_dir / name / "key.pem"


def build_test_pki(base_dir: Path, now: dt.datetime | None = None) -> TestPki:
    """Build the standard fixture PKI under ``base_dir`` (everything valid at ``now``)."""
    if now is None:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    day = dt.timedelta(days=1)
    nb, na = now - 30 * day, now + 365 * day  # "valid now"

    root = make_root_ca(ROOT_DN, not_before=nb, not_after=na)
    intermediate = make_intermediate_ca(root, INTERMEDIATE_DN, not_before=nb, not_after=na)

    def endorser(
        cn: str,
        issuer: Credential = intermediate,
        *,
        not_before: dt.datetime = nb,
        not_after: dt.datetime = na,
        key_usage: x509.KeyUsage | None = DEFAULT_KEY_USAGE,
        extended_key_usage: Iterable[x509.ObjectIdentifier] | None = DEFAULT_EKU,
    ) -> Credential:
        return make_endorser(
            issuer,
            ENDORSER_PREFIX + cn,
            not_before=not_before,
            not_after=not_after,
            key_usage=key_usage,
            extended_key_usage=extended_key_usage,
        )

    good = endorser("Good Endorser")
    revoked = endorser("Revoked Endorser")
    expired = endorser("Expired Endorser", not_before=now - 400 * day, not_after=now - day)
    not_yet_valid = endorser(
        "Future Endorser", not_before=now + 30 * day, not_after=now + 400 * day
    )
    wrong_key_usage = endorser(
        "Key Encipherment Endorser",
        key_usage=x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=True,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        ),
    )
    wrong_eku = endorser(
        "Server Auth Endorser", extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH]
    )
    outside_namespace = make_endorser(
        intermediate, "/DC=org/DC=evil/CN=Mallory", not_before=nb, not_after=na
    )
    direct = endorser("Direct Endorser", issuer=root)

    impostor_ca = make_intermediate_ca(
        root,
        INTERMEDIATE_DN,
        key=cached_key("rsa", "impostor intermediate"),
        not_before=nb,
        not_after=na,
    )
    impostor = endorser("Impostor Endorser", issuer=impostor_ca)

    untrusted_root = make_root_ca(UNTRUSTED_ROOT_DN, not_before=nb, not_after=na)
    untrusted_endorser = make_endorser(
        untrusted_root,
        "/DC=org/DC=imagelist-untrusted/CN=Untrusted Endorser",
        not_before=nb,
        not_after=na,
    )

    v1_root = make_root_ca(V1_ROOT_DN, version1=True, not_before=nb, not_after=na)
    v1_endorser = make_endorser(
        v1_root, "/DC=org/DC=imagelist-v1/CN=V1 Endorser", not_before=nb, not_after=na
    )

    root_crl = make_crl(root, last_update=now - day, next_update=now + 30 * day)
    intermediate_crl = make_crl(
        intermediate,
        revoked_serials=[revoked.serial],
        last_update=now - day,
        next_update=now + 30 * day,
    )
    stale_intermediate_crl = make_crl(
        intermediate,
        revoked_serials=[revoked.serial],
        last_update=now - 31 * day,
        next_update=now - day,
    )
    v1_root_crl = make_crl(v1_root, last_update=now - day, next_update=now + 30 * day)

    def trust(
        name: str,
        *,
        with_root_crl: bool = True,
        inter_crl: x509.CertificateRevocationList | None = intermediate_crl,
        crl_format: Literal["pem", "der"] = "pem",
    ) -> Path:
        directory = IgtfDirectory(base_dir / name)
        directory.add_ca(root, crl=root_crl if with_root_crl else None, crl_format=crl_format)
        directory.add_ca(intermediate, crl=inter_crl, crl_format=crl_format)
        return directory.path

    trust_dir = trust("trust")
    stale_crl_dir = trust("stale-crl", inter_crl=stale_intermediate_crl)
    missing_crl_dir = trust("missing-crl", inter_crl=None)
    no_root_crl_dir = trust("no-root-crl", with_root_crl=False)
    der_crl_dir = trust("der-crl", crl_format="der")
    v1_dir = IgtfDirectory(base_dir / "v1-root")
    v1_dir.add_ca(v1_root, crl=v1_root_crl)

    creds = {
        "root": root,
        "intermediate": intermediate,
        "good": good,
        "revoked": revoked,
        "expired": expired,
        "not_yet_valid": not_yet_valid,
        "wrong_key_usage": wrong_key_usage,
        "wrong_eku": wrong_eku,
        "outside_namespace": outside_namespace,
        "direct": direct,
        "impostor": impostor,
        "untrusted_root": untrusted_root,
        "untrusted_endorser": untrusted_endorser,
        "v1_root": v1_root,
        "v1_endorser": v1_endorser,
    }
    creds_dir = base_dir / "creds"
    for name, cred in creds.items():
        cred.write(creds_dir / name)

    return TestPki(
        now=now,
        base_dir=base_dir,
        root_crl=root_crl,
        intermediate_crl=intermediate_crl,
        v1_root_crl=v1_root_crl,
        trust_dir=trust_dir,
        stale_crl_dir=stale_crl_dir,
        missing_crl_dir=missing_crl_dir,
        no_root_crl_dir=no_root_crl_dir,
        der_crl_dir=der_crl_dir,
        v1_root_dir=v1_dir.path,
        creds_dir=creds_dir,
        **creds,
    )
