"""The one-call example publication (what the demo uses)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imagelist.document import ImageList
from imagelist.publisher.example import publish_example
from tests.pki import TestPki, openssl_smime_verify


def test_publish_example(tmp_path: Path, test_pki: TestPki, openssl: str) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096 + b"example")
    result = publish_example(
        tmp_path / "work",
        test_pki.cert_path("good"),
        test_pki.key_path("good"),
        image,
        base_uri="https://images.example.org",
    )
    assert result.list_path == tmp_path / "work" / "www" / "image.list"
    assert result.image_path.read_bytes() == image.read_bytes()
    verified = openssl_smime_verify(openssl, result.list_path.read_bytes(), test_pki.trust_dir)
    assert verified.returncode == 0, verified.stderr
    imagelist = ImageList.from_bytes(verified.stdout)
    assert imagelist.uri == result.list_uri == "https://images.example.org/image.list"
    assert imagelist.images[0].uri == result.image_uri
    assert imagelist.images[0].sha512 == hashlib.sha512(image.read_bytes()).hexdigest()
    assert imagelist.endorser.dn == test_pki.good.subject_oneline
    assert result.version == "0.0.1"
