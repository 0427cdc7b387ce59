"""Registry sources from the site file: discovery by tag pattern, cosign-key trust, trust none."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from imagelist.cli import imagelist_tool
from imagelist.errors import ConfigurationError
from imagelist.oci.cosign import sign_manifest
from imagelist.oci.reference import parse_reference
from imagelist.site_config import parse_site_config
from tests.cache.support import CacheSite
from tests.httpserver import HttpServer
from tests.oci.registry import Pushed, TestRegistry, push_image
from tests.pki import TestPki
from tests.subscriber.support import Site, World

REPO = "egi_vm_images/ubuntu"


def _keypair(tmp_path: Path, name: str = "cosign") -> tuple[ec.EllipticCurvePrivateKey, Path]:
    private = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / f"{name}.pub"
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, path


def _site_file(tmp_path: Path, registry: TestRegistry, **keys: object) -> Path:
    lines = [
        "[oci.sources.egi]",
        f'registry = "{registry.host}"',
        f'repositories = ["{REPO}"]',
        'tag_pattern = "^[^-]*$"',
        "plain_http = true",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    path = tmp_path / "vmcatcher.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _discover(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, list[dict], str]:  # type: ignore[type-arg]
    code = imagelist_tool.main(["oci", "discover", "--config", str(config)])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)["hv:images"] if captured.out else [], captured.err


def _two_releases(registry: TestRegistry, tmp_path: Path) -> tuple[Pushed, Pushed, bytes]:
    old = tmp_path / "old.qcow2"
    old.write_bytes(b"old release" * 3000)
    new = tmp_path / "new.qcow2"
    new.write_bytes(b"new release" * 4000)
    first = push_image(registry.client(), REPO, old, ("24.04-2025-01-01-aaaa",))
    second = push_image(registry.client(), REPO, new, ("24.04", "24.04-2025-10-07-bbbb"))
    return first, second, new.read_bytes()


def test_cosign_key_source_yields_the_signed_floating_tag_pinned(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, tmp_path: Path
) -> None:
    _first, second, content = _two_releases(registry, tmp_path)
    private, public = _keypair(tmp_path)
    sign_manifest(registry.client(), parse_reference(second.uri), private)
    config = _site_file(
        tmp_path, registry, trust="cosign-key", public_key=str(public), max_age_days=30
    )
    code, images, err = _discover(capsys, config)
    assert code == 0, err
    (image,) = images  # only "24.04" matches ^[^-]*$; the .sig tag is never an image
    assert image["hv:uri"] == second.uri
    assert image["hv:size"] == len(content)
    assert image["sl:checksum:sha512"] == hashlib.sha512(content).hexdigest()
    assert image["sl:osname"] == "ubuntu"


def test_an_unsigned_artifact_is_66_and_not_listed(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, tmp_path: Path
) -> None:
    _two_releases(registry, tmp_path)
    _private, public = _keypair(tmp_path)
    config = _site_file(tmp_path, registry, trust="cosign-key", public_key=str(public))
    code, images, err = _discover(capsys, config)
    assert code == 66
    assert images == []
    assert "has no cosign signature" in err.strip().splitlines()[-1]


def test_a_signature_by_another_key_is_67(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, tmp_path: Path
) -> None:
    _first, second, _content = _two_releases(registry, tmp_path)
    private, _public = _keypair(tmp_path)
    _other, wrong = _keypair(tmp_path, "wrong")
    sign_manifest(registry.client(), parse_reference(second.uri), private)
    config = _site_file(tmp_path, registry, trust="cosign-key", public_key=str(wrong))
    code, images, _err = _discover(capsys, config)
    assert (code, images) == (67, [])


def test_a_signature_older_than_max_age_is_68(
    capsys: pytest.CaptureFixture[str], registry: TestRegistry, tmp_path: Path
) -> None:
    _first, second, _content = _two_releases(registry, tmp_path)
    private, public = _keypair(tmp_path)
    sign_manifest(
        registry.client(), parse_reference(second.uri), private,
        timestamp=int(time.time()) - 100 * 86400,
    )  # fmt: skip
    config = _site_file(
        tmp_path, registry, trust="cosign-key", public_key=str(public), max_age_days=90
    )
    code, images, _err = _discover(capsys, config)
    assert (code, images) == (68, [])


def test_trust_none_needs_allow_unsigned(tmp_path: Path, registry: TestRegistry) -> None:
    config = _site_file(tmp_path, registry, trust="none")
    with pytest.raises(ConfigurationError, match=r"trust none .* needs allow_unsigned = true"):
        parse_site_config(config.read_text(), str(config))


def test_trust_none_is_logged_loudly(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    registry: TestRegistry,
    tmp_path: Path,
) -> None:
    _first, second, _content = _two_releases(registry, tmp_path)
    config = _site_file(tmp_path, registry, trust="none", allow_unsigned=True)
    with caplog.at_level(logging.WARNING):
        code, images, err = _discover(capsys, config)
    assert code == 0, err
    assert [image["hv:uri"] for image in images] == [second.uri]
    assert "trust none: images from" in caplog.text
    assert "are NOT verified" in caplog.text


def test_cosign_key_without_a_public_key_is_a_configuration_error(
    tmp_path: Path, registry: TestRegistry
) -> None:
    config = _site_file(tmp_path, registry, trust="cosign-key")
    with pytest.raises(ConfigurationError, match="trust cosign-key needs public_key"):
        parse_site_config(config.read_text(), str(config))


def test_a_cosign_source_signed_by_the_site_goes_the_hepix_way(
    capsys: pytest.CaptureFixture[str],
    registry: TestRegistry,
    tmp_path: Path,
    test_pki: TestPki,
) -> None:
    _first, second, content = _two_releases(registry, tmp_path)
    private, public = _keypair(tmp_path)
    sign_manifest(registry.client(), parse_reference(second.uri), private)
    config = _site_file(tmp_path, registry, trust="cosign-key", public_key=str(public))
    cert, key = test_pki.good.write(tmp_path / "site-endorser")
    with HttpServer() as server:
        url = server.url("/site/egi.list")
        code = imagelist_tool.main(
            ["oci", "discover", "--config", str(config), "--as-list", str(cert), "--list-uri", url]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        unsigned, signed = tmp_path / "egi-oci.json", tmp_path / "egi-oci.list"
        unsigned.write_text(out)
        argv = ["sign", str(unsigned), "-o", str(signed), "--cert", str(cert), "--key", str(key)]
        assert imagelist_tool.main(argv) == 0, capsys.readouterr().err
        server.put("/site/egi.list", signed.read_bytes(), etag="auto")
        site = Site(f"sqlite:///{tmp_path / 'vmcatcher.db'}", test_pki.trust_dir)
        site.register("site-endorser", test_pki.good)
        assert site.subscribe("-s", url, "--imagelist-newimage-subscribe").code == 0
        assert site.subscribe("-U").code == 0
        (line,) = site.image("-l").out.splitlines()
        identifier, state = line.split("\t")[:2]
        assert state == "3"
        (tmp_path / "cachesite").mkdir()
        cache_site = CacheSite(World(site, server, test_pki.good), tmp_path / "cachesite")
        result = cache_site.cache(env={"IMAGELIST_OCI_PLAIN_HTTP": registry.host})
    assert result.code == 0, result.err
    cached = (cache_site.cache_dir / identifier).read_bytes()
    assert hashlib.sha512(cached).hexdigest() == hashlib.sha512(content).hexdigest()
