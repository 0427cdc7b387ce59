"""Benchmark: ``vmcatcher_subscribe -U`` over 500 subscriptions (1,000 images) on loopback HTTP.

Builds a trust directory of 3 root CAs (each with a CRL and policy files) and 20 endorsers under
them (round-robin), serves 500 signed lists of 2 images each from the threaded test HTTP server
(with ETags; list *i* signed by endorser *i* mod 20, so the certificate path is validated for 20
signers in every run, not once), subscribes to all of them, then times three runs of the update as
the command does it (trust store, database and HTTP session opened once per run):

* first import: every list is new;
* nothing changed: every list answers 304 to the conditional GET;
* every list changed: each list has a new version with one changed image.

It prints milliseconds per subscription for each, the goals (≤ 3 ms unchanged, ≤ 15 ms changed),
and, for comparison, ``openssl smime -verify -CApath DIR -crl_check_all`` as a process per list
(signature and path only: no fetch, no JSON, no database).

    .venv/bin/python bench/update.py [--subscriptions 500] [--postgres | --database URL] [--metrics]

``--metrics`` adds five unchanged runs without and five with the Prometheus textfile
(alternating) and prints the ratio of their medians.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.httpserver import HttpServer  # noqa: E402
from tests.pki import (  # noqa: E402
    Credential,
    IgtfDirectory,
    make_crl,
    make_endorser,
    make_root_ca,
)
from tests.postgres import running_postgres  # noqa: E402
from tests.subscriber.support import Site, make_image, make_list, sign  # noqa: E402

from imagelist.db.subscriber import open_database  # noqa: E402
from imagelist.fetch import Fetcher  # noqa: E402
from imagelist.monitoring.alarms import Thresholds  # noqa: E402
from imagelist.monitoring.runs import Monitoring, update_failures  # noqa: E402
from imagelist.subscriber.subscriptions import subscribe  # noqa: E402
from imagelist.subscriber.update import RunVerifier, Updater, exit_code  # noqa: E402
from imagelist.trust import TrustStore  # noqa: E402

CAS = 3
ENDORSERS = 20


def _signers(directory: Path) -> list[Credential]:
    """3 root CAs with CRLs in an IGTF directory and 20 endorsers under them, round-robin."""
    now = datetime.now(UTC).replace(microsecond=0)
    window = {"not_before": now - timedelta(days=30), "not_after": now + timedelta(days=365)}
    igtf = IgtfDirectory(directory)
    cas = [make_root_ca(f"/DC=org/DC=bench-{k}/CN=Bench CA {k}", **window) for k in range(CAS)]
    for ca in cas:
        crl = make_crl(ca, last_update=now - timedelta(days=1), next_update=now + timedelta(days=7))
        igtf.add_ca(ca, crl=crl)
    return [
        make_endorser(cas[j % CAS], f"/DC=org/DC=bench-{j % CAS}/CN=Endorser {j:02d}", **window)
        for j in range(ENDORSERS)
    ]


def _publish(
    server: HttpServer, signers: list[Credential], count: int, version: str, changed: bool
) -> list[bytes]:
    signed = []
    for index in range(count):
        signer = signers[index % len(signers)]
        images = [
            make_image(
                f"img-{index:04d}-a", content=f"{index}-a-{version if changed else ''}".encode()
            ),
            make_image(f"img-{index:04d}-b"),
        ]
        imagelist = make_list(
            signer,
            identifier=f"list-{index:04d}",
            version=version,
            images=images,
            uri=server.url(f"/lists/{index:04d}.list"),
        )
        data = sign(imagelist, signer)
        server.put(f"/lists/{index:04d}.list", data, etag="auto")
        signed.append(data)
    return signed


def _run(database: str, trust_dir: Path, metrics: str | None = None) -> tuple[float, int, int]:
    """One ``-U`` as the command runs it (minus interpreter start-up): (seconds, exit, results).

    As the command, it ends with the monitoring step: expiry alarms logged, and with
    ``metrics`` (a .prom path) the counters kept and the textfile written.
    """
    started = time.perf_counter()
    monitoring = Monitoring("vmcatcher_subscribe", Thresholds(), metrics)
    store = TrustStore.load(trust_dir)
    engine = open_database(database)
    with Fetcher(store) as fetcher:
        results = Updater(engine, store, fetcher=fetcher).run()
    monitoring.after_update(engine, store, update_failures(results), exit_code(results))
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, exit_code(results), len(results)


def _openssl_per_list(openssl: str, trust_dir: Path, lists: list[bytes]) -> float:
    times = []
    for data in lists:
        started = time.perf_counter()
        subprocess.run(
            [
                openssl,
                "smime",
                "-verify",
                "-CApath",
                str(trust_dir),
                "-no-CAfile",
                "-no-CAstore",
                "-crl_check_all",
            ],
            input=data,
            capture_output=True,
            check=True,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=500)
    parser.add_argument("--database", help="SQLAlchemy URL of an EMPTY database (default SQLite)")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="use a throwaway PostgreSQL server (tests/postgres.py)",
    )
    parser.add_argument("--openssl-lists", type=int, default=50)
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="also time unchanged runs with and without --metrics-textfile (5 each, alternating)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    count = args.subscriptions

    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="imagelist-bench-"))
        server = stack.enter_context(HttpServer())
        workdir = Path(tmp)
        trust_dir = workdir / "certificates"
        signers = _signers(trust_dir)
        database = args.database or f"sqlite:///{workdir / 'vmcatcher.db'}"
        if args.postgres:
            pgdir = Path(tempfile.mkdtemp(prefix="imagelist-bench-pg-"))
            pgdir.chmod(0o755)
            stack.callback(shutil.rmtree, pgdir, True)
            database = stack.enter_context(running_postgres(pgdir))
        first = _publish(server, signers, count, "1.0", changed=False)

        engine = open_database(database)
        store = TrustStore.load(trust_dir)
        site = Site(database, trust_dir)
        for number, signer in enumerate(signers):
            site.register(f"bench-{number:02d}", signer)
        verifier = RunVerifier(store)
        with Fetcher(store) as fetcher:
            for index in range(count):
                subscribe(
                    engine,
                    verifier,
                    fetcher,
                    server.url(f"/lists/{index:04d}.list"),
                    update_mode=1,
                    now=datetime.now(UTC),
                )
        engine.dispose()

        imported, code1, n1 = _run(database, trust_dir)
        unchanged, code2, n2 = _run(database, trust_dir)
        _publish(server, signers, count, "1.1", changed=True)
        changed, code3, n3 = _run(database, trust_dir)
        assert n1 == n2 == n3 == count, (n1, n2, n3)
        assert code1 == code2 == code3 == 0, (code1, code2, code3)
        timings: dict[bool, list[float]] = {False: [], True: []}
        if args.metrics:
            prom = str(workdir / "vmcatcher.prom")
            for _ in range(5):
                for with_metrics in (False, True):
                    seconds, code, _n = _run(database, trust_dir, prom if with_metrics else None)
                    assert code == 0, code
                    timings[with_metrics].append(seconds)
        statuses = server.statuses
        not_modified = sum(1 for i in range(count) if 304 in statuses(f"/lists/{i:04d}.list"))

        openssl = shutil.which("openssl")
        per_openssl = (
            _openssl_per_list(openssl, trust_dir, first[: args.openssl_lists])
            if openssl
            else float("nan")
        )

    ms = 1000 / count
    print(
        f"-U over {count} subscriptions ({2 * count} images), {database.split(':')[0]}, "
        f"loopback HTTP with keep-alive, {ENDORSERS} endorsers under {CAS} CAs"
    )
    print(
        f"  first import (every list new)  : {imported * ms:6.2f} ms/subscription "
        f"({imported:.2f} s)"
    )
    print(
        f"  nothing changed (304)          : {unchanged * ms:6.2f} ms/subscription "
        f"({unchanged:.2f} s; {not_modified} lists answered 304)  goal <= 3 ms"
    )
    print(
        f"  every list changed             : {changed * ms:6.2f} ms/subscription "
        f"({changed:.2f} s)  goal <= 15 ms"
    )
    if args.metrics:
        off, on = statistics.median(timings[False]), statistics.median(timings[True])
        print(f"  nothing changed, metrics off   : {off * ms:6.2f} ms/subscription ({off:.2f} s)")
        print(
            f"  nothing changed, metrics on    : {on * ms:6.2f} ms/subscription ({on:.2f} s)  "
            f"ratio {on / off:.2f}x  goal <= 1.2x"
        )
    print(
        f"  openssl smime -verify as a process per list: {per_openssl * 1000:6.2f} ms/list "
        "(verification alone, no fetch, no database)"
    )
    print(
        "  ratio process per list / whole -U per changed list: "
        f"{per_openssl / (changed / count):.2f}"
        f"; per unchanged list: {per_openssl / (unchanged / count):.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
