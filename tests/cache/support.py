"""Test support for the cache: a subscribed site whose images a real HTTP server serves.

:func:`build_cache_site` registers the test signer, serves a signed list whose images point at
the same server (``/images/<id>``), subscribes, imports it (``-U``) and subscribes the images
(``vmcatcher_image -a``). :meth:`CacheSite.cache` runs ``vmcatcher_cache`` in-process with an
event handler that appends every VMCATCHER_* variable it receives, as one JSON line, to a log.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagelist.cli import vmcatcher_cache
from imagelist.document import Image
from tests.httpserver import HttpServer, Resource
from tests.pki import Credential
from tests.subscriber.support import Result, Site, World, make_image

#: A handler that logs its environment (every VMCATCHER_* variable) as one JSON line.
ENV_LOGGER = """\
import json, os, sys
variables = {k: v for k, v in os.environ.items() if k.startswith("VMCATCHER_")}
with open(sys.argv[1], "a", encoding="utf-8") as log:
    log.write(json.dumps(variables, sort_keys=True) + "\\n")
sys.exit(int(os.environ.get("HANDLER_EXIT", "0")))
"""


def image_bytes(identifier: str, size: int) -> bytes:
    """Deterministic, non-repeating-looking content of ``size`` bytes for an image."""
    seed = identifier.encode() + b"\0"
    block = (seed * (4096 // len(seed) + 1))[:4096]
    whole, rest = divmod(size, len(block))
    return block * whole + block[:rest]


@contextmanager
def clean_environment() -> Iterator[None]:
    """Run with no VMCATCHER_* variable inherited; the environment is restored afterwards."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("VMCATCHER_")]:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def captured_logs(stream: io.StringIO, *, verbose: bool) -> Iterator[None]:
    """Send log records to ``stream`` as the command line would (pytest owns the root logger)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class CacheSite:
    """A subscribed site, its served images, its cache directory and an event log."""

    world: World
    root: Path
    contents: dict[str, bytes] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)

    @property
    def site(self) -> Site:
        return self.world.site

    @property
    def server(self) -> HttpServer:
        server: HttpServer = self.world.server
        return server

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def log(self) -> Path:
        return self.root / "events.log"

    @property
    def handler(self) -> str:
        script = self.root / "log_env.py"
        if not script.exists():
            script.write_text(ENV_LOGGER)
        return f"{sys.executable} {script} {self.log}"

    def image_path(self, identifier: str) -> str:
        return f"/images/{identifier}"

    def serve(self, identifier: str, content: bytes, **options: Any) -> Resource:
        """Serve ``content`` as image ``identifier``."""
        self.contents[identifier] = content
        return self.server.put(self.image_path(identifier), content, etag="auto", **options)

    def describe(self, identifier: str, content: bytes, **fields: Any) -> Image:
        fields.setdefault("uri", self.server.url(self.image_path(identifier)))
        image = make_image(identifier, content=content, **fields)
        self.images[identifier] = image
        return image

    def publish(
        self,
        version: str,
        images: Sequence[Image] | None = None,
        *,
        vo: str | None = None,
        update: bool = True,
        **fields: Any,
    ) -> Result | None:
        """Sign and serve the list with ``images`` (default: the current ones), then -U."""
        chosen = tuple(self.images.values()) if images is None else tuple(images)
        self.world.images = chosen
        imagelist = self.world.make(version=version, images=chosen, **fields)
        if vo is not None:
            imagelist = dataclasses.replace(imagelist, unrecognized_fields={"ad:vo": vo})
        self.world.publish(imagelist)
        if not update:
            return None
        result = self.world.update()
        assert result.code == 0, (result.out, result.err)
        return result

    def cache(self, *args: str, env: dict[str, str] | None = None, handler: bool = True) -> Result:
        """Run vmcatcher_cache in-process with -d, -C and the logging handler."""
        env = env or {}
        argv = list(args)
        if "VMCATCHER_CACHE_DIR_CACHE" not in env:
            argv = ["-C", str(self.cache_dir), *argv]
        if "VMCATCHER_RDBMS" not in env:
            argv = ["-d", self.site.database, *argv]
        if handler and "-x" not in args:
            argv = ["-x", self.handler, *argv]
        out, err = io.StringIO(), io.StringIO()
        with clean_environment(), captured_logs(err, verbose="-v" in args):
            os.environ.update(env)
            with redirect_stdout(out), redirect_stderr(err):
                code = vmcatcher_cache.main(argv)
        return Result(code, out.getvalue(), err.getvalue())

    def events(self) -> list[dict[str, str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def event_types(self) -> list[tuple[str, str]]:
        return [
            (e["VMCATCHER_EVENT_TYPE"], e.get("VMCATCHER_EVENT_DC_IDENTIFIER", ""))
            for e in self.events()
        ]

    def index(self, which: str = "") -> dict[str, Any]:
        path = self.cache_dir / which / "cache.index"
        return json.loads(path.read_text()) if path.exists() else {}

    def clear_log(self) -> None:
        self.log.unlink(missing_ok=True)


def build_cache_site(
    site: Site,
    server: HttpServer,
    signer: Credential,
    root: Path,
    images: dict[str, int],
    *,
    subscribe: Sequence[str] | None = None,
) -> CacheSite:
    """A site subscribed to a list of ``images`` (id → size) served by ``server``."""
    world = World(site, server, signer)
    cache_site = CacheSite(world, root)
    for identifier, size in images.items():
        content = image_bytes(identifier, size)
        cache_site.serve(identifier, content)
        cache_site.describe(identifier, content)
    site.register("endorser-1", signer)
    world.images = tuple(cache_site.images.values())
    world.publish(world.make(version="1.0"))
    assert site.subscribe("-s", world.url).code == 0
    result = world.update()
    assert result.code == 0, (result.out, result.err)
    # new images are refused by default (exit 32) unless accepted: accept them all once
    for identifier in subscribe if subscribe is not None else list(images):
        added = site.image("-a", "-u", identifier)
        assert added.code == 0, added.err
    return cache_site
