"""Benchmark: ``vmcatcher_cache`` fetching an ``oci://`` layer from a local registry vs curl.

Starts Debian's ``docker-registry`` on 127.0.0.1 (storage in a temp directory), pushes a layer of
``--size-mib`` random bytes (default 1024) in EGI's layout with our client, signs a list naming it
by digest, subscribes, and then, ``--repeat`` times, interleaved, with ``sync`` between runs:

* ``vmcatcher_cache`` as a process (manifest by digest, layer streamed to the partial file,
  SHA-256 and SHA-512 in one pass, fsync, install);
* ``curl -s BLOB_URL | tee FILE >(openssl dgst -sha256) | openssl dgst -sha512``: the same
  blob, written once and hashed with both digests by openssl in parallel.

Prints the medians and the ratio (goal <= 1.15), and the ratio to curl without writing a file.

    .venv/bin/python bench/oci.py [--size-mib 1024] [--repeat 3]

Needs ``docker-registry``, ``curl``, ``openssl`` and bash.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.httpserver import HttpServer  # noqa: E402
from tests.oci.registry import push_image, running_registry  # noqa: E402
from tests.pki import build_test_pki  # noqa: E402
from tests.subscriber.support import Site, make_image, make_list, sign  # noqa: E402

MIB = 1024 * 1024
RUN = "import sys; from imagelist.cli.vmcatcher_cache import main; sys.exit(main())"


def _make_file(path: Path, size: int) -> str:
    import hashlib

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


def _cache(database: str, cache_dir: Path, host: str) -> float:
    shutil.rmtree(cache_dir, ignore_errors=True)
    _sync()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMCATCHER_")}
    env["IMAGELIST_OCI_PLAIN_HTTP"] = host
    command = [sys.executable, "-c", RUN, "-d", database, "-C", str(cache_dir), "--no-progress"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0 or "0 failed" not in done.stdout:
        raise SystemExit(f"vmcatcher_cache failed: {done.stdout} {done.stderr[-2000:]}")
    return wall


def _shell(command: str, output: Path) -> float:
    output.unlink(missing_ok=True)
    _sync()
    started = time.perf_counter()
    subprocess.run(
        command, shell=True, check=True, stdout=subprocess.DEVNULL, executable="/bin/bash"
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="bench-oci-") as base:
        tmp = Path(base)
        with running_registry(tmp / "registry") as registry, HttpServer() as server:
            disk = tmp / "layer.qcow2"
            sha512 = _make_file(disk, size)
            pushed = push_image(registry.client(), "bench/disk", disk, ("1",))
            disk.unlink()
            pki = build_test_pki(tmp / "pki")
            site = Site(f"sqlite:///{tmp / 'vmcatcher.db'}", pki.trust_dir)
            image = make_image("large", content=b"", size=size, sha512=sha512, uri=pushed.uri)
            imagelist = make_list(pki.good, images=[image], uri=server.url("/image.list"))
            server.put("/image.list", sign(imagelist, pki.good), etag="auto")
            site.register("bench", pki.good)
            assert site.subscribe("-s", server.url("/image.list")).code == 0
            assert site.subscribe("-U").code == 0
            assert site.image("-a", "-u", "large").code == 0
            url = f"http://{registry.host}/v2/bench/disk/blobs/{pushed.layer.digest}"
            out = tmp / "curl.out"
            sha256 = ">(openssl dgst -sha256 >/dev/null)"
            both = f"curl -s {url} | tee {out} {sha256} | openssl dgst -sha512"
            nofile = f"curl -s {url} | tee {sha256} | openssl dgst -sha512"
            runs: dict[str, list[float]] = {"cache": [], "curl_file": [], "curl_nofile": []}
            print(f"== one {args.size_mib} MiB layer from docker-registry on 127.0.0.1")
            for _ in range(args.repeat):
                runs["cache"].append(_cache(site.database, tmp / "cache", registry.host))
                runs["curl_file"].append(_shell(both, out))
                runs["curl_nofile"].append(_shell(nofile, out))
            out.unlink(missing_ok=True)
            cache, curl_file, curl_nofile = (
                statistics.median(runs[k]) for k in ("cache", "curl_file", "curl_nofile")
            )
            print(f"   vmcatcher_cache (oci://, sha256+sha512, file)   {cache:6.2f} s")
            print(f"   curl | tee FILE >(openssl -sha256) | -sha512    {curl_file:6.2f} s")
            print(f"   curl | tee >(openssl -sha256) | -sha512         {curl_nofile:6.2f} s")
            print(f"   ratio to curl with the file                     {cache / curl_file:6.2f}"
                  "   (goal <= 1.15)")  # fmt: skip
            print(f"   ratio to curl without a file                    {cache / curl_nofile:6.2f}")
            print("   runs: " + ", ".join(
                f"{k}=" + "/".join(f"{v:.2f}" for v in runs[k]) for k in runs
            ))  # fmt: skip


if __name__ == "__main__":
    main()
