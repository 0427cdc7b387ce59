"""A subscriber site whose subscription checks OpenPGP (ADR 0021), on the test HTTP server.

:func:`build_pgp_world` registers the endorser with its DN and OpenPGP certificate, publishes
``image.list`` (S/MIME) with ``image.list.json`` and ``image.list.json.asc`` beside it, subscribes
with ``--signature-policy`` and accepts version 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagelist.companions import make_companions
from imagelist.document import ImageList
from imagelist.openpgp import SigningKey
from imagelist.smime import signed_content
from tests.openpgp.gpg import Key
from tests.pki import Credential
from tests.subscriber.support import Site, World, make_image, sign


@dataclass
class PgpWorld(World):
    key: Key | None = None
    policy: str = "smime+openpgp"

    @property
    def json_path(self) -> str:
        return self.path + ".json"

    @property
    def asc_path(self) -> str:
        return self.path + ".json.asc"

    def publish_both(
        self, imagelist: ImageList, *, key: Key | None = None, smime: bool = True
    ) -> tuple[bytes, bytes]:
        """Serve the list signed both ways (``smime=False``: the companions only)."""
        signing = SigningKey.from_file((key or self.key).secret)  # type: ignore[union-attr]
        payload = imagelist.to_json_bytes()
        if smime:
            self.publish(imagelist)
        else:
            self.server.remove(self.path)
        companions = make_companions(payload, signing)
        self.server.put(self.json_path, companions.json, etag="auto")
        self.server.put(self.asc_path, companions.signature, etag="auto")
        return companions.json, companions.signature

    def put_json(self, data: bytes) -> None:
        self.server.put(self.json_path, data, etag="auto")

    def put_asc(self, data: bytes) -> None:
        self.server.put(self.asc_path, data, etag="auto")

    def smime_payload(self, imagelist: ImageList) -> bytes:
        return signed_content(imagelist.to_json_bytes())

    def make_v2(self, **fields: Any) -> ImageList:
        fields.setdefault("version", "2.0")
        return self.make(**fields)


def build_pgp_world(
    site: Site, server: Any, signer: Credential, key: Key, *, policy: str = "smime+openpgp"
) -> PgpWorld:
    """Register (DN unless ``openpgp``, and certificate), publish, subscribe, accept 1.0."""
    world = PgpWorld(
        site, server, signer, images=(make_image("img-a"), make_image("img-b")), key=key,
        policy=policy,
    )  # fmt: skip
    args = ["--create", "-e", "endorser-1", "--openpgp-cert", str(key.public)]
    if policy != "openpgp":
        args += ["--dn", signer.subject_oneline, "--issuer", signer.issuer_oneline]
    result = site.endorser(*args)
    assert result.code == 0, result.err
    world.publish_both(world.make(version="1.0"), smime=policy != "openpgp")
    result = site.subscribe("-s", world.url, "--signature-policy", policy)
    assert result.code == 0, (result.out, result.err)
    result = world.update()
    assert result.code == 0, (result.out, result.err)
    assert site.image("-a", "-u", "img-a").code == 0
    return world


__all__ = ["PgpWorld", "build_pgp_world", "sign"]
