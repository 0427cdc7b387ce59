"""Benchmark: how long each command takes before any work (``COMMAND --help``), with hyperfine.

Every round runs hyperfine once per command (``--runs``, after ``--warmup 1``), the commands in
a rotating order, so that load from other processes on a shared machine hits them all alike; the
median over all runs of all rounds is printed per command, with its ratio to the interpreter
alone (``python -c pass``, the floor) and the modules it imports (``python -X importtime``).

    .venv/bin/python bench/startup.py [--rounds 5] [--runs 5] [--compare SRC]

Needs hyperfine (Debian ``hyperfine``). The commands are the ones installed next to
``sys.executable`` (the venv's scripts). ``--compare SRC`` also times every command with
``PYTHONPATH=SRC`` (another checkout's ``src``, e.g. the code before a change), interleaved with
this tree's, and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = [
    "vmcaster",
    "vmcatcher_subscribe",
    "vmcatcher_image",
    "vmcatcher_endorser",
    "vmcatcher_cache",
    "vmcatcher_status",
    "imagelist",
    "imagelist-market",
    "imagelist-glance",
    "imagelist-opennebula",
]
HEAVY = (
    "sqlalchemy", "alembic", "requests", "openstack", "pyone", "prometheus_client", "orjson",
    "fastapi", "uvicorn", "starlette", "pydantic", "jinja2", "pysequoia", "cryptography",
)  # fmt: skip


def _hyperfine(command: str, runs: int, out: Path) -> list[float]:
    subprocess.run(
        ["hyperfine", "-N", "--warmup", "1", "--runs", str(runs), "--export-json", str(out),
         "--style", "none", command],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return list(json.loads(out.read_text())["results"][0]["times"])


def _heavy_imports(name: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / name), "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seen = set()
    for line in done.stderr.splitlines():
        module = line.rsplit("|", 1)[-1].strip()
        top = module.split(".")[0]
        if top in HEAVY:
            seen.add(top)
    return sorted(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", metavar="SRC", help="also time the commands from SRC")
    args = parser.parse_args()
    if shutil.which("hyperfine") is None:
        raise SystemExit("hyperfine is needed: apt-get install hyperfine")
    commands = {"python -c pass": f"{sys.executable} -c pass"}
    commands.update({name: f"{BIN / name} --help" for name in COMMANDS})
    if args.compare:
        source = Path(args.compare).resolve()
        for name in COMMANDS:
            commands[f"{name} (compare)"] = f"env PYTHONPATH={source} {BIN / name} --help"
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    with tempfile.TemporaryDirectory(prefix="imagelist-startup-") as tmp:
        out = Path(tmp) / "hyperfine.json"
        for round_number in range(args.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                times[name] += _hyperfine(commands[name], args.runs, out)
    floor = statistics.median(times["python -c pass"])
    print(
        f"start-up, hyperfine, {args.rounds} rounds x {args.runs} runs, rotating order; "
        f"PYTHONPATH={os.environ.get('PYTHONPATH', '')!r}"
    )
    print(f"  {'command':32s} {'median':>8s} {'x floor':>8s}  heavy modules imported by --help")
    for name in names:
        median = statistics.median(times[name])
        heavy = ""
        if not name.startswith("python") and not name.endswith("(compare)"):
            heavy = ", ".join(_heavy_imports(name)) or "none"
        line = f"  {name:32s} {median * 1000:6.0f} ms {median / floor:7.2f}x  {heavy}"
        other = times.get(f"{name} (compare)")
        if other:
            line += f"  (this / compare: {median / statistics.median(other):.2f})"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
