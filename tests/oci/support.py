"""A subscribed site whose signed list names images in a real registry by digest."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.cache.support import CacheSite
from tests.oci.registry import Pushed, TestRegistry
from tests.pki import Credential
from tests.subscriber.support import Result, Site, World

__all__ = ["OciSite", "build_oci_site", "cached_files"]


class OciSite(CacheSite):
    """A :class:`CacheSite` whose images live in ``registry``."""

    registry: TestRegistry

    def describe_pushed(
        self, identifier: str, pushed: Pushed, content: bytes, **fields: Any
    ) -> None:
        fields.setdefault("uri", pushed.uri)
        self.describe(identifier, content, **fields)

    def oci_cache(self, *args: str, credentials: bool = True, **env: str) -> Result:
        """vmcatcher_cache with the registry's IMAGELIST_OCI_* settings, no retries."""
        environment = {**self.registry.environment(credentials=credentials), **env}
        return self.cache("--retries", "0", *args, env=environment)


def build_oci_site(
    site: Site,
    server: Any,
    signer: Credential,
    root: Path,
    registry: TestRegistry,
    images: dict[str, tuple[Pushed, bytes]],
) -> OciSite:
    """Sign and serve a list of ``images`` (id → pushed artifact, disk bytes), subscribe all."""
    world = World(site, server, signer)
    oci_site = OciSite(world, root)
    oci_site.registry = registry
    for identifier, (pushed, content) in images.items():
        oci_site.describe_pushed(identifier, pushed, content)
    site.register("endorser-1", signer)
    world.images = tuple(oci_site.images.values())
    world.publish(world.make(version="1.0"))
    assert site.subscribe("-s", world.url, "--imagelist-newimage-accept").code == 0
    result = world.update()
    assert result.code == 0, (result.out, result.err)
    for identifier in images:
        added = site.image("-a", "-u", identifier)
        assert added.code == 0, added.err
    return oci_site


def cached_files(site: CacheSite) -> dict[str, str]:
    """sha512 of every regular file in cache/ and partial/ (nothing unverified may be there)."""
    found: dict[str, str] = {}
    for directory in (site.cache_dir, site.cache_dir / "partial"):
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if path.is_file() and not path.name.startswith(".") and path.name != "cache.index":
                found[str(path.relative_to(site.cache_dir))] = hashlib.sha512(
                    path.read_bytes()
                ).hexdigest()
    return found
