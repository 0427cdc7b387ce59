"""Benchmark: what the OpenPGP companion costs a subscriber (ADR 0021).

Verifies a signed 1,000-image list the way ``vmcatcher_subscribe -U`` does under each policy,
in interleaved rounds, and prints milliseconds per list and the ratio to S/MIME alone:

* ``smime``: S/MIME signature, trust path (IGTF directory of ~100 CAs with CRLs, path
  remembered as in one -U run), JSON parse and typed images, dates;
* ``smime+openpgp``: the same, plus ``image.list.json`` compared byte for byte with the S/MIME
  payload and its detached OpenPGP signature verified (certificate parsed once per run);
* ``openpgp``: the OpenPGP signature, then the ``.json`` parsed, dates.

Goal: ``smime+openpgp`` at most 1.3 x ``smime``.

    .venv/bin/python bench/openpgp.py [--cas 100] [--images 1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pysequoia  # only to make the endorser's key, as gpg would

from imagelist.companions import (
    make_companions,
    verify_companion_signature,
    verify_openpgp_list,
)
from imagelist.openpgp import SigningKey, load_certificates
from imagelist.smime import sign_detached
from imagelist.subscriber.update import RunVerifier
from imagelist.trust import TrustStore
from imagelist.verify import check_dates

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verify_list import build_list, build_trust_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cas", type=int, default=100)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imagelist-bench-") as tmp:
        trust = Path(tmp) / "certificates"
        cert, key = build_trust_dir(trust, args.cas)
        payload = build_list(cert, args.images)
        signed = sign_detached(payload, cert, key)
        tsk = pysequoia.Tsk.generate("Bench Endorser <bench@example.org>")
        signing = SigningKey.from_bytes(str(tsk).encode())
        companions = make_companions(payload, signing)
        certs = load_certificates(signing.certificate.armored.encode())
        verifier = RunVerifier(TrustStore.load(trust))
        print(
            f"setup: {args.cas} CAs with CRLs, list of {args.images} images "
            f"({len(signed) / 1024:.0f} KiB), .json {len(companions.json) / 1024:.0f} KiB, "
            f".asc {len(companions.signature)} bytes"
        )

        def smime() -> None:
            verified = verifier.verify(signed)
            check_dates(verified.imagelist)

        def both() -> None:
            verified = verifier.verify(signed)
            check_dates(verified.imagelist)
            verify_companion_signature(
                companions.json, companions.signature, certs, smime_payload=verified.payload
            )

        def openpgp() -> None:
            imagelist, _ = verify_openpgp_list(companions.json, companions.signature, certs)
            check_dates(imagelist)

        cases = {"smime": smime, "smime+openpgp": both, "openpgp": openpgp}
        for case in cases.values():  # warm up (and the trust path is remembered, as in -U)
            case()
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, case in cases.items():
                started = time.perf_counter()
                case()
                samples[name].append((time.perf_counter() - started) * 1000)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        base = medians["smime"]
        for name, value in medians.items():
            print(f"{name:14s} {value:7.2f} ms per list  {value / base:5.2f} x smime")
        ratio = medians["smime+openpgp"] / base
        print(f"smime+openpgp / smime = {ratio:.2f} (goal <= 1.30)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
