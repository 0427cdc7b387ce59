"""Benchmark: ``vmcatcher_cache`` downloads over loopback HTTP, against curl, and resuming.

Builds the test PKI, a subscriber database subscribed to a signed list, and serves the images
from the threaded test HTTP server (``tests/httpserver.py``: files sent with ``sendfile``, so the
server costs little CPU; throttled resources are sent by a Python loop). Then, in one run:

1. **One large image** (default 1 GiB): ``vmcatcher_cache`` as a process under
   ``/usr/bin/time -v`` (wall time, peak RSS) against ``curl -s URL | tee FILE | openssl dgst
   -sha512`` (the one-pass pipeline) and ``curl -o FILE URL && openssl dgst -sha512 FILE`` (what
   0.6 did, with wget), both on the hash library Python uses, and against the floor: one core's
   SHA-512 of the same bytes (``bench/floor.py``, hashlib over the file from the page cache).
   Goals: ≤ 1.4× the floor, peak RSS ≤ 80 MB. Each is the median of ``--repeat`` interleaved
   rounds, with ``sync`` between runs.
2. **8 images from a server throttled to 20 MB/s per connection**: the wall time of one run with
   all 8 with the default ``--jobs`` (and with ``--jobs 8``) against the slowest of the 8
   downloaded alone. Goal: ≤ 1.5× with the default.
3. **Interrupted at 90 %**: ``kill -9`` once the partial file passes 90 % of the large image,
   then a new run; the bytes the server sends again, as a share of the image. Goal: ≤ 12 %.

Part 1 also gives each contender's **CPU time** (children's user+system; the floor's
``process_time``): where a run gets a fraction of a shared machine's cores, wall times follow
the CPU spent. ``--compare SRC`` runs ``vmcatcher_cache`` from another checkout's ``src`` too
(``PYTHONPATH=SRC``, e.g. the code before a change), in the same rounds. The package's bytecode
is compiled first (as an installed package has it), so that ``PYTHONDONTWRITEBYTECODE`` does not
make every run compile it.

    .venv/bin/python bench/cache_download.py [--size-mib 1024] [--repeat 3] [--small-mib 40]
        [--compare SRC]

Needs ``curl``, ``/usr/bin/time`` (Debian ``time``) and ``openssl`` (for the test PKI).
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from floor import sha512_floor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.httpserver import HttpServer, Resource  # noqa: E402
from tests.pki import build_test_pki  # noqa: E402
from tests.subscriber.support import Site, make_image, make_list, sign  # noqa: E402

MIB = 1024 * 1024
RUN = "import sys; from imagelist.cli.vmcatcher_cache import main; sys.exit(main())"
RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
#: The download step's own time in the run's summary line ("320.0 MiB in 3.5 s").
STEP = re.compile(r" in ([0-9.]+) s \(")


def _step(line: str) -> float:
    match = STEP.search(line)
    return float(match.group(1)) if match else float("nan")


def _make_file(path: Path, size: int) -> str:
    """Random content of ``size`` bytes; returns its sha512."""
    digest = hashlib.sha512()
    with path.open("wb") as handle:
        left = size
        while left:
            chunk = os.urandom(min(8 * MIB, left))
            handle.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _sync() -> None:
    subprocess.run(["sync"], check=False)


#: The CPU time (children's user+system) of the last _cache or _shell run.
LAST_CPU: list[float] = [0.0]


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _cache(
    database: str, cache_dir: Path, *args: str, source: str | None = None
) -> tuple[float, int, str]:
    """One vmcatcher_cache process: (wall seconds, peak RSS in KiB, stdout)."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    _sync()
    command = ["/usr/bin/time", "-v", sys.executable, "-c", RUN, "-d", database]
    command += ["-C", str(cache_dir), "--no-progress", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMCATCHER_")}
    if source:
        env["PYTHONPATH"] = source
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    LAST_CPU[0] = _children_cpu() - cpu
    if done.returncode != 0 or "0 failed" not in done.stdout:
        raise SystemExit(f"vmcatcher_cache failed: {done.stdout} {done.stderr[-2000:]}")
    match = RSS.search(done.stderr)
    return wall, int(match.group(1)) if match else 0, done.stdout.strip()


def _shell(command: str, output: Path) -> float:
    output.unlink(missing_ok=True)
    _sync()
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    LAST_CPU[0] = _children_cpu() - cpu
    return wall


def _site(tmp: Path, server: HttpServer, images: list[tuple[str, int, str]]) -> Site:
    pki = build_test_pki(tmp / "pki")
    site = Site(f"sqlite:///{tmp / 'vmcatcher.db'}", pki.trust_dir)
    described = [
        make_image(
            identifier, content=b"", size=size, sha512=sha, uri=server.url(f"/img/{identifier}")
        )
        for identifier, size, sha in images
    ]
    imagelist = make_list(pki.good, images=described, uri=server.url("/image.list"))
    server.put("/image.list", sign(imagelist, pki.good), etag="auto")
    site.register("bench", pki.good)
    assert site.subscribe("-s", server.url("/image.list")).code == 0
    assert site.subscribe("-U").code == 0
    for identifier, _, _ in images:
        assert site.image("-a", "-u", identifier).code == 0
    return site


def large_image(
    tmp: Path, size: int, repeat: int, compare: str | None = None
) -> tuple[Site, HttpServer, Path]:
    """Part 1; returns what part 3 reuses."""
    image = tmp / "large.img"
    print(f"== one image of {size // MIB} MiB over loopback HTTP (sendfile server)")
    sha = _make_file(image, size)
    server = HttpServer().start()
    server.put("/img/large", Resource(file=image, etag="auto"))
    site = _site(tmp / "large", server, [("large", size, sha)])
    url = server.url("/img/large")
    out = tmp / "curl.out"
    runs: dict[str, list[float]] = {"cache": [], "tee": [], "curl_o": [], "floor": []}
    cpu: dict[str, list[float]] = {"cache": [], "tee": [], "floor": [], "compare": []}
    compared: list[float] = []
    rss: list[int] = []
    line = ""
    for _ in range(repeat):
        wall, peak, line = _cache(site.database, tmp / "cache")
        runs["cache"].append(wall)
        cpu["cache"].append(LAST_CPU[0])
        rss.append(peak)
        if compare:
            compared.append(_cache(site.database, tmp / "cache", source=compare)[0])
            cpu["compare"].append(LAST_CPU[0])
        runs["tee"].append(_shell(f"curl -s {url} | tee {out} | openssl dgst -sha512", out))
        cpu["tee"].append(LAST_CPU[0])
        runs["curl_o"].append(_shell(f"curl -s -o {out} {url} && openssl dgst -sha512 {out}", out))
        started = time.process_time()
        runs["floor"].append(sha512_floor(image, rounds=1))
        cpu["floor"].append((time.process_time() - started) / 2)  # it reads the file twice
    out.unlink(missing_ok=True)
    cache, tee, curl_o, floor = (
        statistics.median(runs[k]) for k in ("cache", "tee", "curl_o", "floor")
    )
    print(f"   vmcatcher_cache                          {cache:6.2f} s  ({line})")
    print(f"   curl | tee FILE | openssl dgst -sha512   {tee:6.2f} s  ({tee / floor:.2f}x floor)")
    print(f"   curl -o FILE && openssl dgst -sha512     {curl_o:6.2f} s  ({curl_o / floor:.2f}x)")
    print(f"   floor: one core's SHA-512 (hashlib)      {floor:6.2f} s")
    print(f"   ratio to the floor                       {cache / floor:6.2f}   (goal <= 1.4)")
    print(f"   ratio to the one-pass pipeline           {cache / tee:6.2f}")
    print(f"   ratio to download-then-hash              {cache / curl_o:6.2f}")
    print(f"   peak RSS of vmcatcher_cache              {max(rss) / 1024:6.1f} MB (goal <= 80 MB)")
    cpus = {k: statistics.median(v) for k, v in cpu.items() if v}
    print(
        f"   CPU time: vmcatcher_cache {cpus['cache']:.2f} s ({cpus['cache'] / cpus['floor']:.2f}x "
        f"the floor's {cpus['floor']:.2f} s), curl | tee | openssl {cpus['tee']:.2f} s"
    )
    if compared:
        other = statistics.median(compared)
        print(
            f"   compare ({compare}): {other:.2f} s ({other / floor:.2f}x floor), CPU "
            f"{cpus['compare']:.2f} s; this / compare: wall {cache / other:.2f}, CPU "
            f"{cpus['cache'] / cpus['compare']:.2f}"
        )
    print(f"   load average: {os.getloadavg()[0]:.1f}")
    print(f"   runs: {', '.join(f'{k}=' + '/'.join(f'{v:.2f}' for v in runs[k]) for k in runs)}")
    return site, server, image


def throttled(tmp: Path, size: int, repeat: int) -> None:
    """Part 2."""
    print(f"== 8 images of {size // MIB} MiB, server throttled to 20 MB/s per connection")
    server = HttpServer().start()
    images = []
    for index in range(8):
        identifier = f"img-{index}"
        path = tmp / f"{identifier}.img"
        sha = _make_file(path, size)
        server.put(f"/img/{identifier}", Resource(file=path, rate=20e6, etag="auto"))
        images.append((identifier, size, sha))
    site = _site(tmp / "small", server, images)
    singles = []
    single_steps = []
    for identifier, _, _ in images:
        for other, _, _ in images:
            site.image("-a" if other == identifier else "-r", "-u", other)
        wall, _, line = _cache(site.database, tmp / "cache8")
        singles.append(wall)
        single_steps.append(_step(line))
    for identifier, _, _ in images:
        site.image("-a", "-u", identifier)
    slowest = max(singles)
    defaults: list[float] = []
    eights: list[float] = []
    fours: list[float] = []
    steps: dict[str, list[float]] = {"default": [], "8": [], "4": []}
    line = ""
    for _ in range(repeat):  # interleaved
        wall, _, line = _cache(site.database, tmp / "cache8")
        defaults.append(wall)
        steps["default"].append(_step(line))
        wall, _, other = _cache(site.database, tmp / "cache8", "--jobs", "8")
        eights.append(wall)
        steps["8"].append(_step(other))
        wall, _, other = _cache(site.database, tmp / "cache8", "--jobs", "4")
        fours.append(wall)
        steps["4"].append(_step(other))
    default, eight, four = (statistics.median(v) for v in (defaults, eights, fours))
    slowest_step = max(single_steps)
    print(f"   slowest single image               {slowest:6.2f} s  (fastest {min(singles):.2f})")
    print(f"   all 8, default --jobs              {default:6.2f} s  ({line})")
    print(f"   ratio, default --jobs              {default / slowest:6.2f}   (goal <= 1.5)")
    print(f"   all 8, --jobs 8                    {eight:6.2f} s  ({eight / slowest:.2f}x)")
    print(f"   all 8, --jobs 4 (the old default)  {four:6.2f} s  ({four / slowest:.2f}x)")
    print(
        "   download step only (the summary's time; no start-up, database or events): slowest "
        f"single {slowest_step:.1f} s; all 8 default "
        f"{statistics.median(steps['default']) / slowest_step:.2f}x, --jobs 8 "
        f"{statistics.median(steps['8']) / slowest_step:.2f}x, --jobs 4 "
        f"{statistics.median(steps['4']) / slowest_step:.2f}x"
    )
    server.stop()


def interrupted(tmp: Path, site: Site, server: HttpServer, size: int) -> None:
    """Part 3."""
    print("== interrupted with kill -9 at 90 %, then run again")
    cache_dir = tmp / "cache-kill"
    shutil.rmtree(cache_dir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMCATCHER_")}
    command = [sys.executable, "-c", RUN, "-d", site.database, "-C", str(cache_dir)]
    process = subprocess.Popen(
        [*command, "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    partial = cache_dir / "partial" / "large"
    while process.poll() is None:
        if partial.exists() and partial.stat().st_size >= 0.9 * size:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    process.wait()
    kept = partial.stat().st_size
    with server.lock:
        server.requests.clear()
    done = subprocess.run(
        [*command, "--no-progress"], env=env, capture_output=True, text=True, check=False
    )
    again = server.bytes_sent("/img/large")
    share = again / size * 100
    print(f"   killed with {kept / size * 100:.1f} % in the partial file")
    print(f"   second run: {done.stdout.strip()}")
    print(f"   bytes sent again                   {share:6.2f} % of the image (goal <= 12 %)")
    print(f"   of which already received before   {(again - (size - kept)) / MIB:6.2f} MiB")


def main() -> None:
    """Run the three parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small-mib", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--part", choices=("all", "large", "throttled"), default="all")
    parser.add_argument("--compare", metavar="SRC", help="also run vmcatcher_cache from SRC")
    args = parser.parse_args()
    compare = str(Path(args.compare).resolve()) if args.compare else None
    for tree in [ROOT / "src", *([Path(compare)] if compare else [])]:
        compileall.compile_dir(tree, quiet=1)
    for tool in ("curl", "/usr/bin/time", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install curl time openssl)")
    with tempfile.TemporaryDirectory(prefix="imagelist-bench-", dir="/var/tmp") as name:
        tmp = Path(name)
        if args.part in ("all", "large"):
            site, server, image = large_image(tmp, args.size_mib * MIB, args.repeat, compare)
            interrupted(tmp, site, server, args.size_mib * MIB)
            server.stop()
            image.unlink()
        if args.part in ("all", "throttled"):
            throttled(tmp, args.small_mib * MIB, args.repeat)


if __name__ == "__main__":
    main()
