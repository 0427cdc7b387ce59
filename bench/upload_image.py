"""Benchmark: ``vmcaster --upload-image`` (local transport) against fair OpenSSL baselines.

vmcaster reads the image once, hashing each chunk (SHA-512) while it writes it beside the target,
then renames it into place after fsync. It is compared, as child processes in interleaved rounds
on the same file (warm in the page cache), with two shell pipelines built on the same hash
library (OpenSSL) and made as durable as a safe publish must be:

* parallel, one read: ``tee DEST < FILE | openssl dgst -sha512 && sync DEST`` (goal <= 1.1x);
* serial, two reads: ``openssl dgst -sha512 FILE && cp FILE DEST && sync DEST``;

and with the floor, one core's SHA-512 of the same bytes (``bench/floor.py``: hashlib in this
process over the file from the page cache). Medians, ratios and vmcaster's peak RSS (goal
<= 100 MB, GNU time) are printed, and the **CPU time** of each (the children's user+system time;
the floor's ``process_time``): on a shared machine where a run gets a fraction of the cores,
wall times follow the CPU time spent, which other jobs do not inflate as much.
``--compare SRC`` also runs vmcaster from another checkout's ``src`` (``PYTHONPATH=SRC``, e.g.
the code before a change) in the same rounds. The package's bytecode is compiled first (as an
installed package has it), so that ``PYTHONDONTWRITEBYTECODE`` does not make every run compile it.

    .venv/bin/python bench/upload_image.py [--size-mib 1024] [--rounds 5] [--dir /var/tmp]
        [--compare SRC]

Its content is a 64 MiB random block repeated (hashing and copying cost the same as for any data).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from floor import sha512_floor

VMCASTER = [sys.executable, "-m", "imagelist.cli.vmcaster"]
IMAGE = "b0b0b0b0-0000-4000-8000-000000000001"
LIST = "b0b0b0b0-0000-4000-8000-0000000000ff"
TIME = "/usr/bin/time"  # GNU time, for the peak RSS (Debian package "time")
GIB = 1024**3
MIB = 1024**2


def _run(
    argv: list[str], env: dict[str, str], rss_file: Path | None = None
) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (bytes) and CPU seconds of one child process; fail if it fails.

    The peak RSS comes from ``/usr/bin/time -f %M`` when ``rss_file`` is given: a child
    forked from this (bigger) Python process would report this process's RSS as its own peak,
    because Linux carries the high-water mark over fork and exec.
    """
    if rss_file is not None:
        argv = [TIME, "-f", "%M", "-o", str(rss_file), *argv]
    before = os.times()
    start = time.perf_counter()
    process = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {process.stderr.decode(errors='replace')}")
    peak = int(rss_file.read_text().split()[-1]) * 1024 if rss_file is not None else 0
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, peak, cpu


def _make_image(path: Path, size: int) -> None:
    block = os.urandom(64 * MIB)
    with path.open("wb") as stream:
        written = 0
        while written < size:
            chunk = block[: min(len(block), size - written)]
            stream.write(chunk)
            written += len(chunk)


def _warm(path: Path) -> None:
    with path.open("rb") as stream:
        while stream.read(16 * MIB):
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="image size (default 1024)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default="/var/tmp", help="where to work (/var/tmp)")
    parser.add_argument("--compare", metavar="SRC", help="also run vmcaster from SRC")
    args = parser.parse_args()
    trees = [Path(__file__).resolve().parents[1] / "src"]
    if args.compare:
        trees.append(Path(args.compare).resolve())
    for tree in trees:
        compileall.compile_dir(tree, quiet=1)

    if not Path(TIME).exists():
        raise SystemExit(f"{TIME} is needed for the peak RSS: apt-get install time")
    if shutil.which("openssl") is None:
        raise SystemExit("openssl is needed for the baselines: apt-get install openssl")
    free = shutil.disk_usage(args.dir).free
    size = args.size_mib * MIB
    if free < 3 * size:
        raise SystemExit(f"only {free / 10**9:.1f} GB free in {args.dir}: lower --size-mib")
    print(f"free space in {args.dir}: {free / 10**9:.1f} GB; image {size / GIB:.2f} GiB")

    with tempfile.TemporaryDirectory(prefix="vmcaster-bench-", dir=args.dir) as tmp:
        work = Path(tmp)
        www = work / "www"
        www.mkdir()
        image = work / "image.raw"
        _make_image(image, size)
        config = work / "vmcaster.cfg"
        config.write_text(
            '[bench]\nserver = "bench.example.org"\nprotocol = "local"\n'
            f'uriMatch = "http://bench.example.org/"\nuriReplace = "{www}/"\n'
        )
        env = {
            **os.environ,
            "VMCASTER_RDBMS": f"sqlite:///{work / 'vmcaster.db'}",
            "VMCASTER_CFG": str(config),
        }
        for command in (
            ["--select-imagelist", LIST, "--add-imagelist"],
            ["--select-image", IMAGE, "--add-image"],
            [
                "--select-image",
                IMAGE,
                "--key-set-image",
                "hv:uri",
                "--key-value-image",
                "http://bench.example.org/old.img",
            ],
            ["--select-imagelist", LIST, "--select-image", IMAGE, "--imagelist-add-image"],
        ):
            _run([*VMCASTER, *command], env)
        _warm(image)

        ours: list[float] = []
        rss: list[int] = []
        parallel: list[float] = []
        serial: list[float] = []
        floors: list[float] = []
        other: list[float] = []
        cpu: dict[str, list[float]] = {k: [] for k in ("ours", "par", "ser", "floor", "other")}

        def upload(runs: list[float], key: str, run_env: dict[str, str]) -> None:
            # forget the stored checksum, so that every round publishes
            command = ["--select-image", IMAGE, "--key-del-image", "sl:checksum:sha512"]
            _run([*VMCASTER, *command], run_env)
            wall, peak, used = _run(
                [*VMCASTER, "--upload-image", str(image), "--select-image", IMAGE],
                run_env,
                rss_file=work / "rss",
            )
            runs.append(wall)
            cpu[key].append(used)
            if key == "ours":
                rss.append(peak)
            for published in www.iterdir():
                published.unlink()

        def vmcaster_round() -> None:
            upload(ours, "ours", env)

        def compare_round() -> None:
            upload(other, "other", {**env, "PYTHONPATH": str(trees[-1])})

        dest = work / "copy.raw"

        def parallel_round() -> None:
            command = f"tee {dest} < {image} | openssl dgst -sha512 >/dev/null && sync {dest}"
            wall, _, used = _run(["bash", "-c", command], env)
            parallel.append(wall)
            cpu["par"].append(used)
            dest.unlink()

        def serial_round() -> None:
            command = f"openssl dgst -sha512 {image} >/dev/null && cp {image} {dest} && sync {dest}"
            wall, _, used = _run(["bash", "-c", command], env)
            serial.append(wall)
            cpu["ser"].append(used)
            dest.unlink()

        def floor_round() -> None:
            started = time.process_time()
            floors.append(sha512_floor(image, rounds=1))
            cpu["floor"].append((time.process_time() - started) / 2)  # it reads the file twice

        steps = [vmcaster_round, parallel_round, serial_round, floor_round]
        if args.compare:
            steps.insert(1, compare_round)
        for round_number in range(args.rounds):
            # interleaved, each round in another order, so a noisy neighbour hits all alike
            shift = round_number % len(steps)
            for step in steps[shift:] + steps[:shift]:
                subprocess.run(["sync"], check=False)
                step()

    ours_m, par_m, ser_m, floor_m = (
        statistics.median(values) for values in (ours, parallel, serial, floors)
    )
    print(f"rounds: {args.rounds} (interleaved, rotating order), medians:")
    for name, value in (
        ("vmcaster --upload-image (local)", ours_m),
        ("tee DEST < FILE | openssl dgst -sha512 && sync DEST", par_m),
        ("openssl dgst -sha512 FILE && cp FILE DEST && sync DEST", ser_m),
        ("floor: one core's SHA-512 (hashlib, page cache)", floor_m),
    ):
        print(f"  {name:56s} {value:7.2f} s  ({size / MIB / value:7.1f} MiB/s)")
    print(f"  ratio vmcaster / parallel tee|openssl+sync:  {ours_m / par_m:5.2f}  (goal <= 1.1)")
    print(f"  ratio vmcaster / serial openssl;cp;sync:     {ours_m / ser_m:5.2f}")
    print(f"  ratio vmcaster / floor:                      {ours_m / floor_m:5.2f}")
    print(f"  ratio parallel baseline / floor:             {par_m / floor_m:5.2f}")
    print(f"  vmcaster peak RSS:                           {max(rss) / 10**6:5.1f} MB (goal 100)")
    cpus = {key: statistics.median(values) for key, values in cpu.items() if values}
    print(
        f"  CPU time (medians): vmcaster {cpus['ours']:.2f} s, parallel baseline "
        f"{cpus['par']:.2f} s ({cpus['ours'] / cpus['par']:.2f}x), serial {cpus['ser']:.2f} s, "
        f"floor {cpus['floor']:.2f} s ({cpus['ours'] / cpus['floor']:.2f}x)"
    )
    if other:
        other_m = statistics.median(other)
        print(
            f"  compare ({args.compare}): {other_m:.2f} s, {other_m / par_m:.2f}x the parallel "
            f"baseline, CPU {cpus['other']:.2f} s; this / compare: wall {ours_m / other_m:.2f}, "
            f"CPU {cpus['ours'] / cpus['other']:.2f}"
        )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}")
    print("  runs (s): " + "; ".join(
        f"{n}=" + "/".join(f"{v:.2f}" for v in vals)
        for n, vals in (("vmcaster", ours), ("parallel", parallel), ("serial", serial),
                        ("floor", floors))
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
