"""``python -m imagelist.demo``: the whole trust story in a few printed lines.

Makes a throwaway CA and endorser, lays out an IGTF trust directory, writes an image list for a
small generated image, signs it as vmcaster would, verifies it as vmcatcher would, and shows that
a tampered copy and an unknown signer are refused. Everything lives in a temporary directory
(or ``--workdir``) and nothing touches the network.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import ImageListError
from .smime import sign_detached
from .trust import CrlPolicy, TrustStore, subject_hash, subject_oneline
from .verify import ListVerifier, check_dates

__all__ = ["issue_certificate", "main"]


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def issue_certificate(
    subject: x509.Name,
    issuer: x509.Name,
    key: CertificateIssuerPrivateKeyTypes,
    signing_key: CertificateIssuerPrivateKeyTypes,
    *,
    ca: bool,
    now: datetime,
) -> x509.Certificate:
    """A throwaway CA or endorser certificate, valid from yesterday for 30 days (demo, bench)."""
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
    ca_cert = issue_certificate(ca_name, ca_name, ca_key, ca_key, ca=True, now=now)
    endorser_key = ec.generate_private_key(ec.SECP256R1())
    endorser_name = _name(
        (NameOID.DOMAIN_COMPONENT, "org"),
        (NameOID.ORGANIZATION_NAME, "Demo VO"),
        (NameOID.COMMON_NAME, "Demo Endorser"),
    )
    endorser_cert = issue_certificate(
        endorser_name, ca_name, endorser_key, ca_key, ca=False, now=now
    )
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


def _write_credentials(
    directory: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "usercert.pem", directory / "userkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _subscribe_and_update(list_url: str, trust_dir: Path, database_url: str) -> list[str]:
    """vmcatcher_subscribe -s URL --auto-endorse, then -U; returns summary and image lines."""
    from .db.engine import reader
    from .db.subscriber import open_database
    from .fetch import Fetcher
    from .subscriber import RunVerifier, Updater, subscribe
    from .subscriber.images import image_states

    store = TrustStore.load(trust_dir)
    engine = open_database(database_url)
    try:
        with Fetcher(store) as fetcher:
            subscribe(
                engine, RunVerifier(store), fetcher, list_url, auto_endorse=True, update_mode=1
            )
            results = Updater(engine, store, fetcher=fetcher).run()
        with reader(engine) as session:
            states = [
                f"image {s.image} state {s.state} (bit 1: subscribed, bit 2: available)"
                for s in image_states(session)
            ]
    finally:
        engine.dispose()
    return [result.line() for result in results] + states


def _cache_and_events(workdir: Path, database_url: str) -> list[str]:
    """vmcatcher_image -a for every image, then vmcatcher_cache with a handler logging events."""
    import contextlib
    import io
    import json
    import shlex

    from .cli import vmcatcher_cache
    from .db.engine import reader
    from .db.subscriber import open_database
    from .subscriber.images import image_states, set_cache

    engine = open_database(database_url)
    try:
        with reader(engine) as session:
            images = [state.image for state in image_states(session)]
        set_cache(engine, images, [], 1)
    finally:
        engine.dispose()
    log = workdir / "events.jsonl"
    # The handler is the admin's command line (run by /bin/sh -c); list values reach it only
    # through its environment, which it appends to a log as one JSON line per event.
    script = (
        "import json, os; "
        "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('VMCATCHER_')}))"
    )
    handler = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} >> {shlex.quote(str(log))}"
    cache_dir = workdir / "cache"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = vmcatcher_cache.main(
            ["-d", database_url, "-C", str(cache_dir), "-x", handler, "--no-progress"]
        )
    lines = [f"exit {code}: {out.getvalue().strip()}"]
    for line in log.read_text().splitlines():
        event = json.loads(line)
        lines.append(
            f"event {event['VMCATCHER_EVENT_TYPE']:<16} "
            f"{event.get('VMCATCHER_EVENT_DC_IDENTIFIER', ''):<38} "
            f"{event.get('VMCATCHER_EVENT_FILENAME', '')}".rstrip()
        )
    for image in images:
        lines.append(f"cached {cache_dir / image} ({(cache_dir / image).stat().st_size} bytes)")
    return lines


def run(workdir: Path) -> int:
    """The demo in ``workdir``: publish, verify, refuse forgeries, subscribe, update, cache."""
    from .publisher.example import publish_example

    now = datetime.now(UTC).replace(microsecond=0)
    trust_dir = workdir / "certificates"
    endorser_cert, endorser_key = _throwaway_pki(trust_dir, now)
    cert_path, key_path = _write_credentials(workdir / "globus", endorser_cert, endorser_key)
    print(f"1. throwaway CA (with CRL and signing policy) in {trust_dir}")
    print(f"   endorser: {subject_oneline(endorser_cert)}")

    image_path = workdir / "demo.img"
    image_path.write_bytes(os.urandom(256 * 1024))
    www = workdir / "publisher" / "www"
    published = publish_example(
        workdir / "publisher", cert_path, key_path, image_path, base_uri=f"file://localhost{www}/"
    )
    signed = published.list_path.read_bytes()
    print(
        f"2. vmcaster published version {published.version}: {published.image_uri} and "
        f"the signed list {published.list_uri} ({len(signed)} bytes)"
    )

    verifier = ListVerifier(TrustStore.load(trust_dir), crl_policy=CrlPolicy.REQUIRE)
    verified = verifier.verify(signed)
    check_dates(verified.imagelist)
    image = verified.imagelist.images[0]
    print(
        f"3. verified: signer {verified.signer_dn}, chain of {len(verified.chain)}, "
        f"image {image.identifier} sha512 {image.sha512[:16]}..."
    )

    tampered = signed.replace(b'"Example image"', b'"Evil image"')
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
        verifier.verify(sign_detached(verified.payload, stranger_cert, stranger_key))
    except ImageListError as exc:
        print(f"5. list signed by an unknown CA refused (exit {exc.exit_code}): {exc}")
    else:  # pragma: no cover
        print("5. ERROR: unknown signer was accepted")
        return 1

    database_url = f"sqlite:///{workdir / 'vmcatcher.db'}"
    lines = _subscribe_and_update(published.list_uri, trust_dir, database_url)
    print("6. vmcatcher_subscribe -s LIST --auto-endorse, then -U (subscription, exit, outcome):")
    for line in lines:
        print(f"   {line}")
    lines = _cache_and_events(workdir, database_url)
    print("7. vmcatcher_image -a, then vmcatcher_cache -x HANDLER (the handler logs its events):")
    for line in lines:
        print(f"   {line}")
    print("demo finished: publish -> verify -> refuse forgeries -> subscribe -> update -> cache")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagelist.demo", description=__doc__)
    parser.add_argument("--workdir", type=Path, help="keep the files here instead of a temp dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="   %(levelname)s: %(message)s")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return run(args.workdir)
    with tempfile.TemporaryDirectory(prefix="imagelist-demo-") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
