"""Benchmark: verify a signed 1,000-image list against an IGTF directory of ~100 CAs with CRLs.

Prints milliseconds per list for imagelist (trust directory loaded once per process; signature,
trust path, JSON parse, typed images, dates) and for ``openssl smime -verify -CApath DIR
-crl_check_all`` as a process per list (signature and path only), and the ratio between the two,
measured in the same run, in interleaved rounds; as wall time and as CPU time (this process's
``process_time``; the openssl child's user+system time from ``getrusage``), which time stolen by
other jobs on a shared machine does not inflate.

    .venv/bin/python bench/verify_list.py [--cas 100] [--images 1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from imagelist.demo import issue_certificate
from imagelist.document import Endorser, Image, ImageList
from imagelist.smime import sign_detached
from imagelist.trust import TrustStore, issuer_oneline, subject_hash, subject_oneline
from imagelist.verify import ListVerifier, check_dates

NOW = datetime.now(UTC).replace(microsecond=0)
PEM = serialization.Encoding.PEM


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    key: rsa.RSAPrivateKey,
    signer: rsa.RSAPrivateKey,
    ca: bool,
) -> x509.Certificate:
    return issue_certificate(subject, issuer, key, signer, ca=ca, now=NOW)


def _name(*parts: str) -> x509.Name:
    dcs = [x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org")]
    return x509.Name(dcs + [x509.NameAttribute(NameOID.COMMON_NAME, part) for part in parts])


def build_trust_dir(directory: Path, count: int) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """``count`` CAs (roots, plus an intermediate under the first), each with a 50-entry CRL."""
    directory.mkdir(parents=True)
    endorser: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None
    for index in range(count):
        key = _key()
        name = _name(f"Bench CA {index:03d}")
        cert = _cert(name, name, key, key, ca=True)
        entries = [(cert, key)]
        if index == 0:
            inter_key = _key()
            inter = _cert(_name("Bench Intermediate"), name, inter_key, key, ca=True)
            entries.append((inter, inter_key))
            leaf_key = _key()
            leaf = _cert(_name("Bench Endorser"), inter.subject, leaf_key, inter_key, ca=False)
            endorser = (leaf, leaf_key)
        for ca_cert, ca_key in entries:
            digest = subject_hash(ca_cert.subject.public_bytes())
            (directory / f"{digest}.0").write_bytes(ca_cert.public_bytes(PEM))
            crl = x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
            crl = crl.last_update(NOW - timedelta(hours=1)).next_update(NOW + timedelta(days=5))
            for serial in range(1000, 1050):
                crl = crl.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(serial)
                    .revocation_date(NOW - timedelta(days=1))
                    .build()
                )
            (directory / f"{digest}.r0").write_bytes(
                crl.sign(ca_key, hashes.SHA256()).public_bytes(PEM)
            )
            dn = subject_oneline(ca_cert)
            (directory / f"{digest}.signing_policy").write_text(
                f"access_id_CA X509 '{dn}'\npos_rights globus CA:sign\n"
                "cond_subjects globus '\"/DC=org/*\"'\n"
            )
    assert endorser is not None
    return endorser


def build_list(cert: x509.Certificate, images: int) -> bytes:
    entries = tuple(
        Image(
            identifier=f"00000000-0000-4000-8000-{index:012d}",
            title=f"Image {index}",
            description="A benchmark image entry with a realistic description length. " * 2,
            uri=f"https://appliances.example.org/store/{index}/image.qcow2",
            size=2147483648 + index,
            sha512=hashlib.sha512(str(index).encode()).hexdigest(),
            arch="x86_64",
            os="Linux",
            osversion="AlmaLinux 9",
            comments="",
            hypervisor="QEMU,KVM",
            version=f"1.{index}",
            unrecognized_fields={"hv:format": "QCOW2", "ad:mpuri": f"https://mp/{index}"},
        )
        for index in range(images)
    )
    imagelist = ImageList(
        identifier="bench-list",
        title="Benchmark list",
        description="1000 images",
        source="bench",
        created=NOW - timedelta(hours=1),
        expires=NOW + timedelta(days=28),
        version="1.0",
        uri="https://example.org/image.list",
        endorsers=(
            Endorser(
                dn=subject_oneline(cert), ca=issuer_oneline(cert), email="b@e.org", creator="b"
            ),
        ),
        images=entries,
    )
    return imagelist.to_json_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cas", type=int, default=100)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--openssl-rounds", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imagelist-bench-") as tmp:
        trust = Path(tmp) / "certificates"
        started = time.perf_counter()
        cert, key = build_trust_dir(trust, args.cas)
        signed = sign_detached(build_list(cert, args.images), cert, key)
        list_path = Path(tmp) / "image.list"
        list_path.write_bytes(signed)
        print(
            f"setup: {args.cas} CAs (+1 intermediate) with CRLs, list of {args.images} images "
            f"({len(signed) / 1024:.0f} KiB) in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        store = TrustStore.load(trust)
        load_ms = (time.perf_counter() - started) * 1000
        verifier = ListVerifier(store)
        verified = verifier.verify(signed)
        check_dates(verified.imagelist)
        assert len(verified.imagelist.images) == args.images

        samples = []
        trust_samples = []
        touched_samples = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            verifier.verify_message(signed)
            trust_samples.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            verified = verifier.verify(signed)
            check_dates(verified.imagelist)
            samples.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            verified = verifier.verify(signed)
            check_dates(verified.imagelist)
            for image in verified.imagelist.images:  # every typed field of every image, read
                _ = (image.title, image.size, image.sha512, image.unrecognized_fields)
            touched_samples.append((time.perf_counter() - started) * 1000)
        ours = statistics.median(samples)
        trust_only = statistics.median(trust_samples)
        touched = statistics.median(touched_samples)

        openssl = shutil.which("openssl")
        if openssl is None:
            print("openssl not found: no baseline")
            print(f"imagelist: {ours:.2f} ms per list (median of {args.rounds})")
            return 0
        command = [
            openssl, "smime", "-verify", "-in", str(list_path), "-CApath", str(trust),
            "-no-CAfile", "-no-CAstore", "-crl_check_all", "-out", "/dev/null",
        ]  # fmt: skip
        baseline_samples = []
        baseline_cpu = []
        ours_cpu = []
        for _ in range(args.openssl_rounds):
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            baseline_samples.append((time.perf_counter() - started) * 1000)
            done = resource.getrusage(resource.RUSAGE_CHILDREN)
            baseline_cpu.append(
                (done.ru_utime - children.ru_utime + done.ru_stime - children.ru_stime) * 1000
            )
            verifier.verify(signed)  # interleaved, so that load from elsewhere hits both alike
            started = time.perf_counter()
            cpu = time.process_time()
            verified = verifier.verify(signed)
            check_dates(verified.imagelist)
            ours_cpu.append((time.process_time() - cpu) * 1000)
            samples.append((time.perf_counter() - started) * 1000)
        ours = statistics.median(samples)
        baseline = statistics.median(baseline_samples)
        print(f"trust directory load (once per process): {load_ms:.1f} ms")
        print(
            f"imagelist verify + parse + dates:  {ours:6.2f} ms per list (median of {args.rounds})"
        )
        print(
            f"openssl smime -verify per process: {baseline:6.2f} ms per list "
            f"(median of {args.openssl_rounds}; signature and chain only, no JSON)"
        )
        print(f"imagelist signature + trust path only: {trust_only:6.2f} ms per list")
        print(
            f"imagelist verify + dates + every image's typed fields read: {touched:6.2f} ms "
            f"({baseline / touched:.1f}x)"
        )
        print(
            f"ratio: full verify {baseline / ours:.1f}x, signature + trust path "
            f"{baseline / trust_only:.1f}x faster than the process-per-list baseline"
        )
        cpu_ours, cpu_base = statistics.median(ours_cpu), statistics.median(baseline_cpu)
        print(
            f"CPU time: imagelist full verify {cpu_ours:6.2f} ms, openssl process per list "
            f"{cpu_base:6.2f} ms: {cpu_base / cpu_ours:.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
