"""The endorser's signing certificate and key (reference §3.6 steps 1-2).

Paths: ``--x509-cert``/``--x509-key``, else ``$VMCASTER_X509_CERT``/``$VMCASTER_X509_KEY``, else
``usercert.pem``/``userkey.pem`` in ``--x509-dir``, ``$VMCASTER_X509_DIR`` or ``$HOME/.globus``.
An encrypted key is opened with the passphrase in ``$VMCASTER_X509_KEY_PASSPHRASE_FILE``, else
by asking on the terminal; without either it is a one-line error, never a hang. The key and the
passphrase file must be regular files that group and others cannot access (as OpenSSH demands);
see :mod:`imagelist.publisher.safefiles`.
"""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ..errors import (
    SigningCertPathError,
    SigningCredentialError,
    SigningCredentialMissingError,
    SigningKeyPathError,
    SigningKeyUsageError,
    SigningKeyUsageMissingError,
)
from ..trust import subject_oneline
from .safefiles import read_credential_file, read_secret_file

__all__ = [
    "PASSPHRASE_FILE_ENV",
    "CredentialPaths",
    "PassphraseSource",
    "check_key_usage",
    "default_passphrase",
    "load_certificate",
    "load_private_key",
    "resolve_paths",
]

logger = logging.getLogger(__name__)

PASSPHRASE_FILE_ENV = "VMCASTER_X509_KEY_PASSPHRASE_FILE"  # noqa: S105 - a variable name
#: Returns the passphrase for the key at the given path, or None if there is no way to get one.
PassphraseSource = Callable[[Path], bytes | None]


@dataclass(frozen=True)
class CredentialPaths:
    """Where the signing certificate and key are."""

    cert: Path
    key: Path


def resolve_paths(
    *,
    cert: str | None = None,
    key: str | None = None,
    directory: str | None = None,
    environ: Mapping[str, str],
) -> CredentialPaths:
    """Apply the option → environment → directory → ``$HOME/.globus`` order; check existence."""
    env = environ
    cert = cert or env.get("VMCASTER_X509_CERT")
    key = key or env.get("VMCASTER_X509_KEY")
    directory = directory or env.get("VMCASTER_X509_DIR")
    if directory is None and env.get("HOME"):
        directory = str(Path(env["HOME"]) / ".globus")
    if key is None:
        if directory is None:
            raise SigningKeyPathError(
                "no signing key: give --x509-key, set VMCASTER_X509_KEY or VMCASTER_X509_DIR"
            )
        key = str(Path(directory) / "userkey.pem")
    if cert is None:
        if directory is None:
            raise SigningCertPathError(
                "no signing certificate: give --x509-cert, set VMCASTER_X509_CERT or "
                "VMCASTER_X509_DIR"
            )
        cert = str(Path(directory) / "usercert.pem")
    paths = CredentialPaths(Path(cert).expanduser(), Path(key).expanduser())
    for what, path in (("key", paths.key), ("certificate", paths.cert)):
        if not path.is_file():
            raise SigningCredentialMissingError(f"signing {what} not found at {path}")
    return paths


def load_certificate(path: Path) -> x509.Certificate:
    """Read a PEM (or DER) certificate."""
    data, _ = read_credential_file(path, "certificate")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise SigningCredentialError(f"{path} is not an X.509 certificate") from None


def check_key_usage(certificate: x509.Certificate, path: Path) -> None:
    """The certificate must have a keyUsage extension including digitalSignature (31/32)."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise SigningKeyUsageMissingError(
            f"certificate {path} ({subject_oneline(certificate)}) has no keyUsage extension"
        ) from None
    except ValueError as exc:  # a malformed extension
        raise SigningCredentialError(f"certificate {path}: {exc}") from None
    if not usage.digital_signature:
        raise SigningKeyUsageError(
            f"certificate {path} ({subject_oneline(certificate)}) keyUsage does not include "
            "digitalSignature"
        )


def default_passphrase(
    environ: Mapping[str, str],
    *,
    interactive: bool | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
    allow_open: bool = False,
) -> PassphraseSource:
    """``$VMCASTER_X509_KEY_PASSPHRASE_FILE``, else a prompt if stdin is a terminal.

    The passphrase file must be private to its owner unless ``allow_open``.
    """
    env = environ

    def source(path: Path) -> bytes | None:
        passphrase_file = env.get(PASSPHRASE_FILE_ENV)
        if passphrase_file:
            data = read_secret_file(
                Path(passphrase_file), PASSPHRASE_FILE_ENV, allow_open=allow_open
            )
            return data.rstrip(b"\r\n")
        tty = sys.stdin.isatty() if interactive is None else interactive
        if not tty:
            return None
        return prompt(f"Enter pass phrase for {path}: ").encode("utf-8")

    return source


def load_private_key(
    path: Path,
    certificate: x509.Certificate,
    passphrase: PassphraseSource,
    *,
    allow_open: bool = False,
) -> PrivateKeyTypes:
    """Read the PEM key (asking for its passphrase if encrypted); it must match the certificate.

    The file must be private to its owner (mode 0600 or 0400) unless ``allow_open``.
    """
    data = read_secret_file(path, "private key", allow_open=allow_open)
    try:
        key = serialization.load_pem_private_key(data, None)
    except TypeError:  # encrypted
        secret = passphrase(path)
        if secret is None:
            raise SigningCredentialError(
                f"private key {path} is encrypted and there is no terminal to ask for its "
                f"passphrase: set {PASSPHRASE_FILE_ENV}"
            ) from None
        try:
            key = serialization.load_pem_private_key(data, secret)
        except (TypeError, ValueError):
            raise SigningCredentialError(
                f"cannot decrypt private key {path}: wrong passphrase"
            ) from None
    except ValueError:
        raise SigningCredentialError(f"{path} is not a PEM private key") from None
    except UnsupportedAlgorithm as exc:  # pragma: no cover - needs an exotic key type
        raise SigningCredentialError(f"cannot load private key {path}: {exc}") from None
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != expected:
        raise SigningCredentialError(
            f"private key {path} does not belong to certificate {subject_oneline(certificate)}"
        )
    return key
