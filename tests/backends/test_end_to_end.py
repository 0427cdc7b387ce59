"""The whole path: vmcaster publishes, vmcatcher subscribes, updates and caches, Glance has it.

Runs ``vmcatcher_cache`` with ``imagelist-glance`` as its VMCATCHER_CACHE_EVENT handler against
the real Glance; skipped while ``vmcatcher_cache`` is not part of the release.
"""

from __future__ import annotations

import shlex
import sys
import uuid
from pathlib import Path

import openstack
import pytest

from imagelist.cli import vmcatcher_cache
from imagelist.publisher.example import IMAGE_ID, publish_example
from tests.backends.glance_server import GlanceServer
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.support import Site

pytestmark = pytest.mark.peer

HANDLER = "import sys; from imagelist.cli.imagelist_glance import main; sys.exit(main())"


def _glance_images(identifier: str) -> list[object]:
    connection = openstack.connect(cloud="imagelist-test")
    return [
        image
        for hidden in (False, True)
        for image in connection.image.images(is_hidden=hidden)
        if (image.properties or {}).get("vmcatcher_event_dc_identifier") == identifier
    ]


def test_published_image_reaches_glance_and_its_revocation_retires_it(
    glance: GlanceServer,
    test_pki: TestPki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qemu_img: str,
) -> None:
    if "not part of this release" in (vmcatcher_cache.__doc__ or ""):
        pytest.skip("vmcatcher_cache is not part of this release yet")
    cert, key = test_pki.good.write(tmp_path / "endorser")
    disk = tmp_path / "example.img"
    disk.write_bytes(b"\0" * 1024 * 1024)
    with HttpServer() as server:
        base = server.url("/")
        publication = publish_example(tmp_path / "vmcaster", cert, key, disk, base_uri=base)
        server.put("/" + publication.list_uri[len(base) :], publication.list_path.read_bytes())
        server.put("/" + publication.image_uri[len(base) :], publication.image_path.read_bytes())
        site = Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)
        site.register(str(uuid.uuid4()), test_pki.good)
        assert site.subscribe("-s", publication.list_uri).code == 0
        assert site.subscribe("-U").code == 0
        assert site.image("-a", "-u", IMAGE_ID).code == 0
        cache = tmp_path / "cache"
        for sub in ("", "partial", "expired"):
            (cache / sub).mkdir(parents=True, exist_ok=True)
        config = tmp_path / "glance.toml"
        config.write_text(
            f'cloud = "imagelist-test"\nproject_id = "ops"\nconversion_dir = "{tmp_path}/c"\n'
        )
        monkeypatch.setenv("IMAGELIST_GLANCE_CONFIG", str(config))
        handler = f"{shlex.quote(sys.executable)} -c {shlex.quote(HANDLER)}"
        argv = [
            "-d",
            site.database,
            "-C",
            str(cache) + "/",
            "-p",
            str(cache / "partial"),
            "-e",
            str(cache / "expired"),
            "-x",
            handler,
        ]
        assert vmcatcher_cache.main(argv) == 0
        (image,) = _glance_images(IMAGE_ID)
        assert image.status == "active"  # type: ignore[attr-defined]
        assert site.image("-r", "-u", IMAGE_ID).code == 0  # revoke: unsubscribe
        assert vmcatcher_cache.main(argv) == 0
        (image,) = _glance_images(IMAGE_ID)
        assert image.status == "deactivated"  # type: ignore[attr-defined]
