"""``python -m imagelist.demo``: the whole trust story in a few printed lines.

Makes a throwaway CA and endorser, lays out an IGTF trust directory, writes an image list for a
small generated image, signs it as vmcaster would, verifies it as vmcatcher would, and shows that
a tampered copy and an unknown signer are refused. Everything lives in a temporary directory
(or ``--workdir``) and nothing touches the network.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .document import Endorser, Image, ImageList
from .errors import ImageListError
from .smime import sign_detached
from .trust import CrlPolicy, TrustStore, issuer_oneline, subject_hash, subject_oneline
from .verify import ListVerifier, check_dates

__all__ = ["main"]


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signing_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    now: datetime,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    return builder.add_extension(usage, critical=True).sign(signing_key, hashes.SHA256())


def _throwaway_pki(
    trust_dir: Path, now: datetime, ca_common_name: str = "Demo Grid CA"
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A root CA in an IGTF-style directory (with CRL and policy), and one endorser under it."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name((NameOID.DOMAIN_COMPONENT, "org"), (NameOID.COMMON_NAME, ca_common_name))
    ca_cert = _certificate(ca_name, ca_name, ca_key, ca_key, ca=True, now=now)
    endorser_key = ec.generate_private_key(ec.SECP256R1())
    endorser_name = _name(
        (NameOID.DOMAIN_COMPONENT, "org"),
        (NameOID.ORGANIZATION_NAME, "Demo VO"),
        (NameOID.COMMON_NAME, "Demo Endorser"),
    )
    endorser_cert = _certificate(endorser_name, ca_name, endorser_key, ca_key, ca=False, now=now)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_name)
        .last_update(now - timedelta(hours=1))
        .next_update(now + timedelta(days=7))
        .sign(ca_key, hashes.SHA256())
    )
    ca_hash = subject_hash(ca_name.public_bytes())
    ca_dn = subject_oneline(ca_cert)
    trust_dir.mkdir(parents=True, exist_ok=True)
    (trust_dir / f"{ca_hash}.0").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (trust_dir / f"{ca_hash}.r0").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    (trust_dir / f"{ca_hash}.signing_policy").write_text(
        f"access_id_CA X509 '{ca_dn}'\npos_rights globus CA:sign\n"
        f"cond_subjects globus '\"/DC=org/*\"'\n"
    )
    return endorser_cert, endorser_key


def _image_list(image_path: Path, endorser: x509.Certificate, now: datetime) -> ImageList:
    data = image_path.read_bytes()
    image = Image(
        identifier="6e1d3c1a-5b1e-4c1e-9c47-1d0f0d2b7c11",
        title="Demo appliance",
        description="A few random bytes standing in for a VM image",
        uri=image_path.as_uri(),
        size=len(data),
        sha512=hashlib.sha512(data).hexdigest(),
        arch="x86_64",
        os="Linux",
        osversion="demo",
        comments="",
        hypervisor="kvm",
        version="1",
        unrecognized_fields={"hv:format": "raw"},
    )
    endorser_entry = Endorser(
        dn=subject_oneline(endorser),
        ca=issuer_oneline(endorser),
        email="endorser@example.org",
        creator="Demo Endorser",
    )
    return ImageList(
        identifier="2f4b1e36-8d1c-4a57-9e8e-0d5c2f7a9b10",
        title="Demo image list",
        description="Made by make demo",
        source="imagelist demo",
        created=now,
        expires=now + timedelta(days=28),
        version="1.0",
        uri="file:///demo/image.list",
        endorsers=(endorser_entry,),
        images=(image,),
    )


def run(workdir: Path) -> int:
    now = datetime.now(UTC).replace(microsecond=0)
    trust_dir = workdir / "certificates"
    endorser_cert, endorser_key = _throwaway_pki(trust_dir, now)
    print(f"1. throwaway CA and endorser in {trust_dir}")
    print(f"   endorser: {subject_oneline(endorser_cert)}")

    image_path = workdir / "demo.img"
    image_path.write_bytes(os.urandom(256 * 1024))
    imagelist = _image_list(image_path, endorser_cert, now)
    payload = imagelist.to_json_bytes()
    signed = sign_detached(payload, endorser_cert, endorser_key)
    list_path = workdir / "image.list"
    list_path.write_bytes(signed)
    print(f"2. signed list {list_path.name}: {len(imagelist.images)} image, {len(signed)} bytes")

    verifier = ListVerifier(TrustStore.load(trust_dir), crl_policy=CrlPolicy.REQUIRE)
    verified = verifier.verify(list_path.read_bytes())
    check_dates(verified.imagelist)
    image = verified.imagelist.images[0]
    print(
        f"3. verified: signer {verified.signer_dn}, chain of {len(verified.chain)}, "
        f"image {image.identifier} sha512 {image.sha512[:16]}..."
    )

    tampered = signed.replace(b'"Demo appliance"', b'"Evil appliance"')
    try:
        verifier.verify(tampered)
    except ImageListError as exc:
        print(f"4. tampered copy refused (exit {exc.exit_code}): {exc}")
    else:  # pragma: no cover - would be a security bug
        print("4. ERROR: tampered copy was accepted")
        return 1

    stranger_dir = workdir / "stranger"
    stranger_cert, stranger_key = _throwaway_pki(stranger_dir, now, "Stranger CA")
    try:
        verifier.verify(sign_detached(payload, stranger_cert, stranger_key))
    except ImageListError as exc:
        print(f"5. list signed by an unknown CA refused (exit {exc.exit_code}): {exc}")
    else:  # pragma: no cover
        print("5. ERROR: unknown signer was accepted")
        return 1
    print("demo finished: sign -> verify -> refuse tampering and strangers")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagelist.demo", description=__doc__)
    parser.add_argument("--workdir", type=Path, help="keep the files here instead of a temp dir")
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return run(args.workdir)
    with tempfile.TemporaryDirectory(prefix="imagelist-demo-") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
