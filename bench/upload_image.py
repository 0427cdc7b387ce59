"""Benchmark: ``vmcaster --upload-image`` (local) against ``sha512sum FILE && cp FILE DEST``.

vmcaster reads the image once, hashing each chunk (SHA-512, in a worker thread) while it writes
it beside the target, then renames it into place (after fsync). The baseline reads the file twice:
once in ``sha512sum``, once in ``cp`` (no fsync). Both run as child processes, in alternating
order, on the same file (kept warm in the page cache), in the same run; the medians, their ratio
(goal <= 1.0) and vmcaster's peak RSS (goal <= 100 MB, measured by GNU time) are
printed.

    .venv/bin/python bench/upload_image.py [--size-mib 2048] [--rounds 3] [--dir /tmp]

The image is 2 GiB if the directory has at least 10 GB free, else smaller (and it says so). Its
content is a 64 MiB random block repeated (hashing and copying cost the same as for any data).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VMCASTER = [sys.executable, "-m", "imagelist.cli.vmcaster"]
IMAGE = "b0b0b0b0-0000-4000-8000-000000000001"
LIST = "b0b0b0b0-0000-4000-8000-0000000000ff"
TIME = "/usr/bin/time"  # GNU time, for the peak RSS (Debian package "time")
GIB = 1024**3
MIB = 1024**2


def _run(argv: list[str], env: dict[str, str], rss_file: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process; fail loudly if it fails.

    The peak RSS comes from ``/usr/bin/time -f %M`` when ``rss_file`` is given: a child
    forked from this (bigger) Python process would report this process's RSS as its own peak,
    because Linux carries the high-water mark over fork and exec.
    """
    if rss_file is not None:
        argv = [TIME, "-f", "%M", "-o", str(rss_file), *argv]
    start = time.perf_counter()
    process = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {process.stderr.decode(errors='replace')}")
    peak = int(rss_file.read_text().split()[-1]) * 1024 if rss_file is not None else 0
    return wall, peak


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
    parser.add_argument("--size-mib", type=int, default=None, help="image size (default 2048)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to work (/tmp)")
    args = parser.parse_args()

    if not Path(TIME).exists():
        raise SystemExit(f"{TIME} is needed for the peak RSS: apt-get install time")
    free = shutil.disk_usage(args.dir).free
    size = (args.size_mib or 2048) * MIB
    note = ""
    if args.size_mib is None and free < 10 * 10**9:
        size = max(64 * MIB, (free // 5) // MIB * MIB)
        note = f" (only {free / 10**9:.1f} GB free in {args.dir}: image reduced from 2 GiB)"
    print(f"free space in {args.dir}: {free / 10**9:.1f} GB; image {size / GIB:.2f} GiB{note}")

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
        baseline: list[float] = []
        hash_part: list[float] = []
        copy_part: list[float] = []

        def vmcaster_round() -> None:
            # forget the stored checksum, so that every round publishes
            _run([*VMCASTER, "--select-image", IMAGE, "--key-del-image", "sl:checksum:sha512"], env)
            wall, peak = _run(
                [*VMCASTER, "--upload-image", str(image), "--select-image", IMAGE],
                env,
                rss_file=work / "rss",
            )
            ours.append(wall)
            rss.append(peak)
            for published in www.iterdir():
                published.unlink()

        def baseline_round() -> None:
            dest = work / "copy.raw"
            hashed, _ = _run(["sha512sum", str(image)], env)
            copied, _ = _run(["cp", str(image), str(dest)], env)
            hash_part.append(hashed)
            copy_part.append(copied)
            baseline.append(hashed + copied)
            dest.unlink()

        for round_number in range(args.rounds):
            first, second = (
                (vmcaster_round, baseline_round)
                if round_number % 2 == 0
                else (baseline_round, vmcaster_round)
            )
            first()
            second()

    ours_median = statistics.median(ours)
    base_median = statistics.median(baseline)
    print(f"rounds: {args.rounds} (alternating order), medians:")
    print(
        f"  vmcaster --upload-image (local):  {ours_median:7.2f} s  "
        f"({size / MIB / ours_median:7.1f} MiB/s)"
    )
    hashed, copied = statistics.median(hash_part), statistics.median(copy_part)
    print(
        f"  sha512sum FILE && cp FILE DEST:   {base_median:7.2f} s  "
        f"(sha512sum {hashed:.2f} s + cp {copied:.2f} s)"
    )
    print(f"  ratio vmcaster / baseline:        {ours_median / base_median:7.2f}  (goal <= 1.0)")
    print(f"  vmcaster peak RSS:                {max(rss) / 10**6:7.1f} MB  (goal <= 100 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
