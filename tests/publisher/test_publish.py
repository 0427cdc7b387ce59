"""Publishing at the library level: new image URIs, compression, hashing paths, credentials."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from imagelist.db.publisher import open_database
from imagelist.errors import (
    ImageUriMissingError,
    SigningCertPathError,
    SigningCredentialError,
    UsageError,
)
from imagelist.publisher.config import PublisherConfig, parse_config
from imagelist.publisher.credentials import (
    PASSPHRASE_FILE_ENV,
    default_passphrase,
    load_certificate,
    load_private_key,
    resolve_paths,
)
from imagelist.publisher.publish import upload_imagelist
from imagelist.publisher.store import PublisherStore
from imagelist.publisher.upload import build_image_uri, upload_image
from tests.pki import TestPki

WHEN = datetime(2013, 5, 6, 10, 11, 12, tzinfo=UTC)
IMAGE = "aaaaaaaa-0000-4000-8000-000000000001"
LIST = "11111111-1111-4111-8111-111111111111"


@pytest.mark.parametrize(
    ("old", "extension", "new"),
    [
        (
            "http://Cloud.cesga.es/images/debian.qcow2",
            "QCOW2",
            f"http://cloud.cesga.es/images/{IMAGE}_2013-05-06_10-11-12.QCOW2",
        ),
        (
            "https://u:p@h.org:8443/a/b/x.img?q=1#f",
            None,
            f"https://h.org:8443/a/b/{IMAGE}_2013-05-06_10-11-12.img",
        ),
        ("http://h.org", "img.gz", f"http://h.org/{IMAGE}_2013-05-06_10-11-12.img.gz"),
        ("http://h.org/dir/", "raw", f"http://h.org/dir/{IMAGE}_2013-05-06_10-11-12.raw"),
        ("http://[::1]:80/x", None, f"http://[::1]:80/{IMAGE}_2013-05-06_10-11-12.img"),
    ],
)
def test_new_image_uri(old: str, extension: str | None, new: str) -> None:
    assert build_image_uri(old, IMAGE, extension, WHEN) == new


def test_unsafe_names_are_refused() -> None:
    with pytest.raises(UsageError, match="hv:format"):
        build_image_uri("http://h.org/x", IMAGE, "../../etc/passwd", WHEN)
    with pytest.raises(UsageError, match="image id"):
        build_image_uri("http://h.org/x", "../x", None, WHEN)
    with pytest.raises(ImageUriMissingError, match="not an absolute URI"):
        build_image_uri("/relative/x.img", IMAGE, None, WHEN)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[PublisherStore]:
    engine = open_database(sqlite_url)
    yield PublisherStore(engine)
    engine.dispose()


def _config(tmp_path: Path, protocol: str = "local") -> PublisherConfig:
    www = tmp_path / "www"
    www.mkdir(exist_ok=True)
    extra = 'command = ["cp", "--", "{src}", "{dest}"]\n' if protocol == "command" else ""
    path = tmp_path / f"{protocol}.cfg"
    path.write_text(
        f'[w]\nserver = "h.org"\nprotocol = "{protocol}"\nuriMatch = "http://h.org/"\n'
        f'uriReplace = "{www}/"\n{extra}'
    )
    return parse_config(path)


def _image(store: PublisherStore, image_format: str | None = None) -> None:
    store.add("imagelist", LIST)
    store.add("image", IMAGE)
    store.set_key("image", IMAGE, "hv:uri", "http://h.org/old.img")
    if image_format:
        store.set_key("image", IMAGE, "hv:format", image_format)
    store.link("image", LIST, IMAGE)


@pytest.mark.parametrize("protocol", ["local", "command"])
def test_upload_and_unchanged(store: PublisherStore, tmp_path: Path, protocol: str) -> None:
    _image(store)
    config = _config(tmp_path, protocol)
    data = os.urandom(100_000)
    source = tmp_path / "image.raw"
    source.write_bytes(data)
    seen: list[int] = []
    result = upload_image(
        store, IMAGE, source, config, progress=seen.append, now=WHEN, environ=os.environ
    )
    assert not result.unchanged
    assert result.digest.sha512 == hashlib.sha512(data).hexdigest()
    assert seen[-1] == len(data)
    assert (tmp_path / "www" / f"{IMAGE}_2013-05-06_10-11-12.img").read_bytes() == data
    assert store.keys("image", IMAGE)["hv:version"] == "0.0.1"
    again = upload_image(
        store, IMAGE, source, config, now=datetime(2014, 1, 1, tzinfo=UTC), environ=os.environ
    )
    assert again.unchanged
    assert sorted(p.name for p in (tmp_path / "www").iterdir()) == [
        f"{IMAGE}_2013-05-06_10-11-12.img"
    ]


@pytest.mark.parametrize(("suffix", "opener"), [("img.gz", gzip.open), ("img.bz2", bz2.open)])
def test_compressed_formats(
    store: PublisherStore, tmp_path: Path, suffix: str, opener: object
) -> None:
    """hv:format ending in gz/bz2: an uncompressed file is compressed first (as 0.0.x did)."""
    _image(store, suffix)
    config = _config(tmp_path)
    data = b"raw disk " * 10_000
    source = tmp_path / "image.raw"
    source.write_bytes(data)
    result = upload_image(store, IMAGE, source, config, now=WHEN, environ=os.environ)
    published = tmp_path / "www" / f"{IMAGE}_2013-05-06_10-11-12.{suffix}"
    with opener(published, "rb") as stream:  # type: ignore[operator]
        assert stream.read() == data
    assert result.digest.sha512 == hashlib.sha512(published.read_bytes()).hexdigest()
    # An already compressed file is uploaded as it is.
    compressed = tmp_path / f"image.{suffix}"
    compressed.write_bytes(published.read_bytes())
    assert upload_image(store, IMAGE, compressed, config, now=WHEN, environ=os.environ).unchanged


def test_not_a_file(store: PublisherStore, tmp_path: Path) -> None:
    _image(store)
    with pytest.raises(UsageError, match="not a regular file"):
        upload_image(store, IMAGE, tmp_path, _config(tmp_path), environ=os.environ)


def test_lifetime_must_be_positive(
    store: PublisherStore, tmp_path: Path, test_pki: TestPki
) -> None:
    paths = resolve_paths(
        cert=str(test_pki.cert_path("good")), key=str(test_pki.key_path("good")), environ={}
    )
    with pytest.raises(UsageError, match="at least 1 day"):
        upload_imagelist(
            store,
            LIST,
            _config(tmp_path),
            paths,
            default_passphrase({}),
            lifetime_days=0,
            environ=os.environ,
        )


def test_bad_checksum_and_size_are_named(
    store: PublisherStore, tmp_path: Path, test_pki: TestPki
) -> None:
    from imagelist.errors import PublishRequiredKeysError

    _image(store)
    keys = {
        "dc:title": "t",
        "dc:description": "d",
        "sl:arch": "x",
        "sl:os": "o",
        "sl:osversion": "1",
        "sl:comments": "",
        "hv:hypervisor": "kvm",
        "hv:version": "1",
        "hv:size": "-1",
        "sl:checksum:sha512": "A" * 128,
    }
    store.set_keys("image", IMAGE, keys)
    for key, value in (("dc:title", "t"), ("dc:description", "d"), ("dc:source", "s")):
        store.set_key("imagelist", LIST, key, value)
    store.set_key("imagelist", LIST, "hv:uri", "http://h.org/image.list")
    dn = test_pki.good.subject_oneline
    store.add("endorser", dn)
    store.set_keys(
        "endorser", dn, {"hv:ca": test_pki.good.issuer_oneline, "hv:email": "e", "dc:creator": "c"}
    )
    store.link("endorser", LIST, dn)
    paths = resolve_paths(
        cert=str(test_pki.cert_path("good")), key=str(test_pki.key_path("good")), environ={}
    )

    def publish() -> None:
        upload_imagelist(
            store, LIST, _config(tmp_path), paths, default_passphrase({}), environ=os.environ
        )

    with pytest.raises(PublishRequiredKeysError, match="hv:size is not a byte count"):
        publish()
    store.set_key("image", IMAGE, "hv:size", "5")
    with pytest.raises(PublishRequiredKeysError, match="not 128 lower-case hex"):
        publish()
    store.set_key("image", IMAGE, "sl:checksum:sha512", "a" * 128)
    publish()
    assert (tmp_path / "www" / "image.list").exists()


# --- credentials ----------------------------------------------------------------------------------


def test_resolve_paths_orders(tmp_path: Path) -> None:
    for name in ("usercert.pem", "userkey.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    paths = resolve_paths(environ={"VMCASTER_X509_DIR": str(tmp_path)})
    assert (paths.cert.name, paths.key.name) == ("usercert.pem", "userkey.pem")
    paths = resolve_paths(
        cert=str(tmp_path / "c.pem"),
        environ={"VMCASTER_X509_KEY": str(tmp_path / "k.pem")},
    )
    assert (paths.cert.name, paths.key.name) == ("c.pem", "k.pem")
    with pytest.raises(SigningCertPathError) as info:
        resolve_paths(key=str(tmp_path / "k.pem"), environ={})
    assert info.value.exit_code == 22


def test_passphrase_prompt_and_file(tmp_path: Path, test_pki: TestPki) -> None:
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(
        test_pki.good.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    key_path.chmod(0o600)
    cert = load_certificate(test_pki.cert_path("good"))
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return "secret"

    load_private_key(key_path, cert, default_passphrase({}, interactive=True, prompt=prompt))
    assert prompts == [f"Enter pass phrase for {key_path}: "]
    with pytest.raises(SigningCredentialError, match="cannot read"):
        load_private_key(
            key_path, cert, default_passphrase({PASSPHRASE_FILE_ENV: str(tmp_path / "none")})
        )
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello")
    not_a_key.chmod(0o600)
    with pytest.raises(SigningCredentialError, match="is not a PEM private key"):
        load_private_key(not_a_key, cert, default_passphrase({}))
    with pytest.raises(SigningCredentialError, match="cannot read private key"):
        load_private_key(tmp_path, cert, default_passphrase({}))


def test_certificate_forms(tmp_path: Path, test_pki: TestPki) -> None:
    der = tmp_path / "cert.der"
    der.write_bytes(test_pki.good.cert.public_bytes(serialization.Encoding.DER))
    assert load_certificate(der) == test_pki.good.cert
    with pytest.raises(SigningCredentialError, match="cannot read certificate"):
        load_certificate(tmp_path)
    with pytest.raises(SigningCredentialError, match=r"not an X\.509 certificate"):
        load_certificate(test_pki.key_path("good"))
