"""A whole vmcaster publication in one call: for the demo and for newcomers reading code.

:func:`publish_example` does what an endorser does with the command line (reference §3.1):
create a list, an endorser and an image in a fresh database, upload the image and sign and
upload the list with a ``local`` vmcaster.cfg into a web root directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..db.publisher import open_database
from ..trust import issuer_oneline, subject_oneline
from .config import parse_config
from .credentials import CredentialPaths, default_passphrase, load_certificate
from .publish import upload_imagelist
from .store import PublisherStore
from .upload import upload_image

__all__ = ["ExamplePublication", "publish_example"]

LIST_ID = "dfc470ab-0845-4c3b-bc6a-02f990388a17"  # the paper's example list
IMAGE_ID = "5ba3a7a0-3c55-4a3f-8f3e-6a1c7f0e2d11"


@dataclass(frozen=True)
class ExamplePublication:
    """Where everything went."""

    list_path: Path  # the signed list, as served at list_uri
    list_uri: str
    image_path: Path  # the published image file, as served at image_uri
    image_uri: str
    database_url: str
    version: str


def publish_example(
    workdir: Path,
    certificate: Path,
    key: Path,
    image: Path,
    *,
    base_uri: str = "https://images.example.org/",
    lifetime_days: int = 28,
    digest: str = "sha256",
) -> ExamplePublication:
    """Publish ``image`` in a one-image list signed with ``certificate``/``key`` (unencrypted).

    Everything is written under ``workdir``: ``vmcaster.db``, ``vmcaster.cfg`` and the web
    root ``www/`` (``www/image.list`` and ``www/images/<image file>``), which is served at
    ``base_uri``. The endorser's ``hv:dn``/``hv:ca`` come from the certificate.
    """
    if not base_uri.endswith("/"):
        base_uri += "/"
    www = workdir / "www"
    (www / "images").mkdir(parents=True, exist_ok=True)
    config_path = workdir / "vmcaster.cfg"
    host = base_uri.split("/")[2].split(":")[0]
    config_path.write_text(
        "[web]\n"
        f'server = "{host}"\n'
        'protocol = "local"\n'
        f'uriMatch = "{base_uri}"\n'
        f'uriReplace = "{www}/"\n'
    )
    database_url = f"sqlite:///{workdir / 'vmcaster.db'}"
    engine = open_database(database_url)
    try:
        store = PublisherStore(engine)
        cert = load_certificate(certificate)
        dn = subject_oneline(cert)
        store.add("imagelist", LIST_ID)
        store.set_keys(
            "imagelist",
            LIST_ID,
            {
                "dc:title": "Example image list",
                "dc:description": "Published by imagelist.publisher.example",
                "dc:source": host,
                "hv:uri": f"{base_uri}image.list",
            },
        )
        store.add("endorser", dn)
        store.set_keys(
            "endorser",
            dn,
            {"hv:ca": issuer_oneline(cert), "hv:email": f"endorser@{host}", "dc:creator": dn},
        )
        store.link("endorser", LIST_ID, dn)
        store.add("image", IMAGE_ID)
        store.set_keys(
            "image",
            IMAGE_ID,
            {
                "dc:title": "Example image",
                "dc:description": "A small example image",
                "hv:uri": f"{base_uri}images/example.img",
                "hv:format": "raw",
                "hv:hypervisor": "kvm",
                "sl:arch": "x86_64",
                "sl:os": "Linux",
                "sl:osversion": "1.0",
                "sl:comments": "",
            },
        )
        store.link("image", LIST_ID, IMAGE_ID)
        config = parse_config(config_path)
        environ: dict[str, str] = {}  # the example reads nothing from the environment
        uploaded = upload_image(store, IMAGE_ID, image, config, environ=environ)
        published = upload_imagelist(
            store,
            LIST_ID,
            config,
            CredentialPaths(cert=certificate, key=key),
            default_passphrase(environ, interactive=False),
            lifetime_days=lifetime_days,
            digest=digest,
            environ=environ,
        )
    finally:
        engine.dispose()
    return ExamplePublication(
        list_path=Path(published.target),
        list_uri=published.uri,
        image_path=Path(uploaded.target or ""),  # a fresh image is never "unchanged"
        image_uri=uploaded.uri or "",
        database_url=database_url,
        version=published.version,
    )
