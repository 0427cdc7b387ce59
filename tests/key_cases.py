"""Signers with weak keys or MD5 signatures, and the trust directories they need (issue 9.3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from tests.pki import Credential, IgtfDirectory, TestPki, make_crl, parse_oneline
from tests.signers import issue, small_rsa_key

__all__ = ["KEY_CASES", "KeyCase", "build_key_cases"]


@dataclass(frozen=True)
class KeyCase:
    """A signer, its trust directory, our refusal, and ``openssl -auth_level 2``'s verdict."""

    id: str
    refusal: str | None
    openssl_level2_accepts: bool


KEY_CASES = [
    KeyCase("rsa-1024-signer", "1024-bit RSA key; at least 2048 bits are required", False),
    KeyCase("rsa-512-signer", "512-bit RSA key; at least 2048 bits are required", False),
    KeyCase("ec-p224-signer", "P-256 or stronger is required", True),
    KeyCase("ec-p384-signer", None, True),
    KeyCase("md5-signed-signer", "is signed with MD5", False),
    KeyCase(
        "rsa-1024-ca", "CA certificate /DC=org/DC=imagelist-test/CN=Weak CA has a 1024-bit", False
    ),
    KeyCase(
        "md5-signed-root",
        "CA certificate /DC=org/DC=imagelist-md5/CN=MD5 Root is signed with MD5",
        True,
    ),
]


def build_key_cases(pki: TestPki, openssl: str, base: Path) -> dict[str, tuple[Credential, Path]]:
    """Each case's signer (inside its CA's namespace) and trust directory, by case id."""
    now = pki.now
    day = dt.timedelta(days=1)

    def endorser(cn: str, **options: object) -> Credential:
        name = parse_oneline(f"/DC=org/DC=imagelist-test/O=Endorsers/CN={cn}")
        return issue(pki.intermediate, name, now=now, **options)  # type: ignore[arg-type]

    def directory(name: str, *cas: Credential) -> Path:
        made = IgtfDirectory(base / name)
        for ca in cas:
            made.add_ca(ca, crl=make_crl(ca, last_update=now - day, next_update=now + 9 * day))
        return made.path

    weak_ca = issue(
        pki.root,
        parse_oneline("/DC=org/DC=imagelist-test/CN=Weak CA"),
        now=now,
        ca=True,
        key=small_rsa_key(openssl, 1024),
    )
    md5_root = issue(
        None,
        parse_oneline("/DC=org/DC=imagelist-md5/CN=MD5 Root"),
        now=now,
        ca=True,
        key=small_rsa_key(openssl, 2048),
        md5=True,
    )
    return {
        "rsa-1024-signer": (endorser("RSA 1024", key=small_rsa_key(openssl, 1024)), pki.trust_dir),
        "rsa-512-signer": (endorser("RSA 512", key=small_rsa_key(openssl, 512)), pki.trust_dir),
        "ec-p224-signer": (
            endorser("EC P-224", key=ec.generate_private_key(ec.SECP224R1())),
            pki.trust_dir,
        ),
        "ec-p384-signer": (
            endorser("EC P-384", key=ec.generate_private_key(ec.SECP384R1())),
            pki.trust_dir,
        ),
        "md5-signed-signer": (endorser("MD5 Signed", md5=True), pki.trust_dir),
        "rsa-1024-ca": (
            issue(weak_ca, parse_oneline("/DC=org/DC=imagelist-test/CN=Under Weak CA"), now=now),
            directory("weak-ca", pki.root, weak_ca),
        ),
        "md5-signed-root": (
            issue(md5_root, parse_oneline("/DC=org/DC=imagelist-md5/CN=Under MD5 Root"), now=now),
            directory("md5-root", md5_root),
        ),
    }
