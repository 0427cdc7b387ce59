"""Benchmark: the marketplace's integrity check, VO-list publication and /store 304s.

1. **Integrity check of one large image** (default 1 GiB) served over loopback by the test HTTP
   server (sendfile): :func:`imagelist.market.integrity.check_image` in its own process under
   ``/usr/bin/time -v`` (wall time, peak RSS) against ``curl -s URL | openssl dgst -sha512``.
   Goals: ≤ 1.15× the pipeline, peak RSS ≤ 100 MB. Medians of ``--repeat`` interleaved rounds.
2. **Publishing a VO list of 1,000 images** (100 appliances × 10 images, SQLite):
   :func:`imagelist.market.publication.publish_vo_list` (query, build, sign, record, write the
   files at commit). Goal: ≤ 250 ms (median of ``--repeat``).
3. **Conditional GETs per second**: ``imagelist-market serve`` (one worker) answers
   ``If-None-Match`` for the published per-appliance list; ``wrk`` with 2 threads and 16
   connections for ``--seconds``. Goal: ≥ 1,000 304s per second.

    .venv/bin/python bench/market.py [--size-mib 1024] [--repeat 3] [--seconds 10]

Needs ``curl``, ``openssl``, ``wrk`` and ``/usr/bin/time`` (Debian ``time``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.httpserver import HttpServer, Resource  # noqa: E402
from tests.market.pubsupport import (  # noqa: E402
    add_version,
    market_settings,
    seed,
    service_credential,
)
from tests.pki import build_test_pki  # noqa: E402

MIB = 1024 * 1024
RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
CHECK = """
import sys
from imagelist.fetch import Fetcher
from imagelist.market.integrity import CheckLimits, check_image
with Fetcher() as fetcher:
    result = check_image(fetcher, sys.argv[1], int(sys.argv[2]), sys.argv[3],
                         limits=CheckLimits(max_size=int(sys.argv[2])))
print(result.state, result.message)
sys.exit(0 if result.ok else 1)
"""


def _make_file(path: Path, size: int) -> str:
    digest = hashlib.sha512()
    with path.open("wb") as handle:
        left = size
        while left:
            chunk = os.urandom(min(8 * MIB, left))
            handle.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _timed(command: list[str], *, shell: bool = False) -> tuple[float, int, str]:
    """(seconds, peak RSS in KiB, stdout) of one run under /usr/bin/time -v."""
    argv = ["/usr/bin/time", "-v", *command] if not shell else command
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr[-500:]}")
    match = RSS.search(done.stderr)
    return elapsed, int(match.group(1)) if match else 0, done.stdout


def integrity(size_mib: int, repeat: int, work: Path) -> None:
    image = work / "large.img"
    sha512 = _make_file(image, size_mib * MIB)
    with HttpServer() as server:
        server.put("/large.img", Resource(file=image, etag="auto"))
        url = server.url("/large.img")
        ours: list[float] = []
        rss: list[int] = []
        theirs: list[float] = []
        for _ in range(repeat):
            seconds, peak, out = _timed(
                [sys.executable, "-c", CHECK, url, str(size_mib * MIB), sha512]
            )
            assert out.startswith("ok"), out
            ours.append(seconds)
            rss.append(peak)
            start = time.perf_counter()
            pipeline = subprocess.run(
                ["/bin/sh", "-c", f"curl -s '{url}' | openssl dgst -sha512"],
                capture_output=True,
                text=True,
                check=True,
            )
            theirs.append(time.perf_counter() - start)
            assert sha512 in pipeline.stdout
    mine, base = statistics.median(ours), statistics.median(theirs)
    print(
        f"integrity check of {size_mib} MiB: {mine:.2f} s, curl | openssl dgst -sha512: "
        f"{base:.2f} s, ratio {mine / base:.2f} (goal <= 1.15); peak RSS "
        f"{max(rss) / 1024:.0f} MB (goal <= 100)"
    )


def publication(repeat: int, work: Path) -> None:
    from sqlalchemy.orm import Session

    from imagelist.db.market import open_database
    from imagelist.db.market.models import Appliance, Image, Vo, VoList, VoListEntry
    from imagelist.market.publication import publish_vo_list

    pki = build_test_pki(work / "pki")
    settings = market_settings(work / "publish", service_credential(pki))
    engine = open_database(settings.database_url)
    with Session(engine) as session, session.begin():
        seeded = seed(session, images=10)
        vo_list = session.get_one(VoList, seeded.vo_list_id)
        owner = session.get_one(Appliance, seeded.appliance_id).owner_id
        for number in range(99):
            appliance = Appliance(
                slug=f"va{number}",
                uuid=str(uuid.uuid4()),
                title=f"Appliance {number}",
                description="",
                owner_id=owner,
                created=vo_list.created_at,
            )
            session.add(appliance)
            session.flush()
            images = [
                Image(appliance_id=appliance.id, uuid=str(uuid.uuid4()), title=f"i{n}")
                for n in range(10)
            ]
            session.add_all(images)
            session.flush()
            version = add_version(session, appliance, "1.0", images)
            session.add(
                VoListEntry(
                    vo_list_id=vo_list.id,
                    appliance_id=appliance.id,
                    appliance_version_id=version.id,
                )
            )
        vo_id = seeded.vo_id
    times = []
    for _ in range(repeat + 1):  # the first run loads the signer and warms the caches
        start = time.perf_counter()
        with Session(engine) as session, session.begin():
            payload = publish_vo_list(session, session.get_one(Vo, vo_id), settings).json
        times.append(time.perf_counter() - start)
    engine.dispose()
    count = payload.count(b'"hv:image"')
    print(
        f"publishing a VO list of {count} images: {statistics.median(times[1:]) * 1000:.0f} ms "
        f"(first {times[0] * 1000:.0f} ms; goal <= 250 ms), {len(payload) // 1024} KiB JSON"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def conditional_gets(seconds: int, work: Path) -> None:
    from sqlalchemy.orm import Session

    from imagelist.db.market import open_database
    from imagelist.db.market.models import Appliance
    from imagelist.market.publication import publish_appliance

    pki = build_test_pki(work / "pki304")
    port = _free_port()
    home = work / "serve"
    settings = market_settings(
        home, service_credential(pki), public_base_url=f"http://127.0.0.1:{port}"
    )
    engine = open_database(settings.database_url)
    with Session(engine) as session, session.begin():
        seeded = seed(session, images=10)
        publish_appliance(session, session.get_one(Appliance, seeded.appliance_id), settings)
    engine.dispose()
    etag = (
        '"'
        + hashlib.sha256(
            (settings.store_dir / "vappliance" / "alma9" / "image.list").read_bytes()
        ).hexdigest()
        + '"'
    )
    env = {
        **os.environ,
        "IMAGELIST_MARKET_SIGNER_CERT": str(settings.signer_cert),
        "IMAGELIST_MARKET_SIGNER_KEY": str(settings.signer_key),
    }
    serve = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "imagelist-market"),
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--no-jobs",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/store/vappliance/alma9/image.list"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                 f"If-None-Match: {etag}", url],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if probe.stdout == "304":
                break
            time.sleep(0.2)
        else:
            raise SystemExit("imagelist-market serve did not answer 304")
        done = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{seconds}s", "-H", f"If-None-Match: {etag}", url],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        serve.terminate()
        serve.wait(timeout=20)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    print(
        f"conditional GETs (304) by imagelist-market serve, 1 worker, wrk -t2 -c16: "
        f"{rate:.0f}/s (goal >= 1000); errors: {non_2xx.group(1) if non_2xx else 0}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", choices=("integrity", "publish", "304"))
    args = parser.parse_args()
    for tool in ("curl", "openssl", "wrk", "/usr/bin/time"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench/market.py needs {tool}")
    with tempfile.TemporaryDirectory(prefix="imagelist-bench-market-") as tmp:
        work = Path(tmp)
        if args.only in (None, "publish"):
            publication(args.repeat, work)
        if args.only in (None, "304"):
            conditional_gets(args.seconds, work)
        if args.only in (None, "integrity"):
            integrity(args.size_mib, args.repeat, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
