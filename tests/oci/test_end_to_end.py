"""End to end: an image pushed to a real registry in EGI's layout, described by
``imagelist oci describe``, a signed list of its digest, ``vmcatcher_subscribe -U``,
``vmcatcher_cache -x imagelist-glance`` into the real Glance, with atrope's properties.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import openstack
import pytest

from imagelist.cli import imagelist_tool
from tests.backends.conftest import glance, glance_server, qemu_img  # noqa: F401 - fixtures
from tests.backends.glance_server import GlanceServer
from tests.httpserver import HttpServer
from tests.oci.registry import TestRegistry, push_image
from tests.oci.support import build_oci_site
from tests.pki import TestPki
from tests.subscriber.support import Site

pytestmark = pytest.mark.peer

HANDLER = "import sys; from imagelist.cli.imagelist_glance import main; sys.exit(main())"
REPO = "egi_vm_images/ubuntu"
_STANDARD = {
    "hv:uri": "uri",
    "hv:size": None,
    "sl:checksum:sha512": None,
    "sl:arch": "arch",
    "sl:os": "os",
    "sl:osversion": "osversion",
    "dc:title": "title",
    "dc:description": "description",
    "hv:version": "version",
}


def _glance_images(identifier: str) -> list[object]:
    connection = openstack.connect(cloud="imagelist-test")
    return [
        image
        for hidden in (False, True)
        for image in connection.image.images(is_hidden=hidden)
        if (image.properties or {}).get("vmcatcher_event_dc_identifier") == identifier
    ]


def test_a_registry_image_in_a_signed_list_reaches_glance_with_atropes_properties(
    glance: GlanceServer,  # noqa: F811 - the fixture
    qemu_img: str,  # noqa: F811 - the fixture
    registry: TestRegistry,
    test_pki: TestPki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    disk = tmp_path / "ubuntu-24.04.qcow2"
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    pushed = push_image(registry.client(), REPO, disk, ("24.04", "24.04-2025-10-07-1a2b3c4d"))
    assert imagelist_tool.main(["oci", "describe", "--plain-http", pushed.uri]) == 0
    entry = json.loads(capsys.readouterr().out)
    fields = {attr: entry[key] for key, attr in _STANDARD.items() if attr}
    fields["unrecognized_fields"] = {k: v for k, v in entry.items() if k not in _STANDARD}
    site = Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)
    with HttpServer() as server:
        oci = build_oci_site(site, server, test_pki.good, tmp_path, registry, {})
        oci.describe("ubuntu-2404", disk.read_bytes(), **fields)
        oci.publish("1.1")
        assert site.image("-a", "-u", "ubuntu-2404").code == 0
        config = tmp_path / "glance.toml"
        config.write_text(
            f'cloud = "imagelist-test"\nproject_id = "ops"\nconversion_dir = "{tmp_path}/c"\n'
        )
        monkeypatch.setenv("IMAGELIST_GLANCE_CONFIG", str(config))
        handler = f"{shlex.quote(sys.executable)} -c {shlex.quote(HANDLER)}"
        result = oci.oci_cache("-x", handler)
        assert result.code == 0, result.err
    (image,) = _glance_images("ubuntu-2404")
    assert image.status == "active"  # type: ignore[attr-defined]
    props = image.properties  # type: ignore[attr-defined]
    # openstacksdk gives Glance's common properties as attributes
    assert image.os_distro == "ubuntu"  # type: ignore[attr-defined]
    assert image.os_version == "24.04"  # type: ignore[attr-defined]
    assert image.architecture == "x86_64"  # type: ignore[attr-defined]
    assert props["image_hash"] == pushed.layer.digest
    assert props["vmcatcher_event_dc_description"] == "Ubuntu 24.04 LTS"
    attributes = json.loads(props["APPLIANCE_ATTRIBUTES"])
    assert attributes["hv:uri"] == pushed.uri
    assert attributes["oci:annotations"]["eu.egi.cloud.tag"] == "2025-10-07-1a2b3c4d"
