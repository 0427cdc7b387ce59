"""An endorser ready to publish, for the vmcaster attack tests (tests/security/test_publisher_*).

The database (SQLite file or a fresh PostgreSQL database) holds one list with one image and a
linked endorser, set up through :class:`PublisherStore`; the attack itself always runs the real
``vmcaster`` in a separate process, and every test compares the whole database (all tables, all
rows) and the published directory before and after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from imagelist.db.publisher import open_database
from imagelist.publisher.store import PublisherStore
from tests.pki import TestPki
from tests.publisher.support import Result, fresh_postgres_database, run_vmcaster_process

LIST = "dfc470ab-0845-4c3b-bc6a-02f990388a17"
IMAGE = "8fd4c1e4-7e0c-4a5e-9f0d-2b7f3c4d5e6f"
HOST = "www.example.org"
SHA512_ZERO = "0" * 128


def db_snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: the whole database as a comparable value."""
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                name: sorted((tuple(row) for row in connection.execute(sa.select(table))), key=repr)
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


def tree(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative path → content), symlinks not followed."""
    found: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(directory))] = path.read_bytes()
    return found


@dataclass
class Publisher:
    """One endorser's directory: ``vmcaster.cfg``, database, credentials, web root."""

    base: Path
    www: Path
    database: str
    pki: TestPki
    env: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> PublisherStore:
        return PublisherStore(open_database(self.database))

    def configure(self, protocol: str, replace: str, **options: str) -> None:
        """Write vmcaster.cfg: one section for HOST (``options`` are JSON texts)."""
        lines = [
            "[www]",
            f'server = "{HOST}"',
            f'protocol = "{protocol}"',
            f'uriMatch = "https://{HOST}/"',
            f'uriReplace = "{replace}"',
            *(f"{key} = {value}" for key, value in options.items()),
        ]
        (self.base / "vmcaster.cfg").write_text("\n".join(lines) + "\n")

    def set_list_uri(self, uri: str) -> None:
        store = self.store
        try:
            store.set_key("imagelist", LIST, "hv:uri", uri)
        finally:
            store.engine.dispose()

    def set_image_uri(self, uri: str) -> None:
        store = self.store
        try:
            store.set_key("image", IMAGE, "hv:uri", uri)
        finally:
            store.engine.dispose()

    def run(self, *args: str, **env: str) -> Result:
        """The real vmcaster, in its own process, in ``base``."""
        return run_vmcaster_process(list(args), {**self.env, **env}, self.base)

    def state(self) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, bytes]]:
        """(database, published directory): what an attack must not change."""
        return db_snapshot(self.database), tree(self.www)


def make_publisher(base: Path, database: str, pki: TestPki) -> Publisher:
    """A publishable list LIST with image IMAGE, endorsed by ``pki.good``; local transport."""
    www = base / "www"
    work = base / "endorser"
    for directory in (work, www / "files", www / "images"):
        directory.mkdir(parents=True)
    store = PublisherStore(open_database(database))
    try:
        store.add("imagelist", LIST)
        store.set_keys(
            "imagelist",
            LIST,
            {
                "dc:title": "a list",
                "dc:source": "test",
                "dc:description": "attacked",
                "hv:uri": f"https://{HOST}/files/image.list",
            },
        )
        subject = pki.good.subject_oneline
        store.add("endorser", subject)
        store.set_keys(
            "endorser",
            subject,
            {"dc:creator": "Test", "hv:ca": pki.good.issuer_oneline, "hv:email": "t@example.org"},
        )
        store.link("endorser", LIST, subject)
        store.add("image", IMAGE)
        store.set_keys(
            "image",
            IMAGE,
            {
                "dc:title": "image",
                "dc:description": "image",
                "sl:arch": "x86_64",
                "sl:os": "Linux",
                "sl:osversion": "1",
                "sl:comments": "none",
                "hv:hypervisor": "KVM",
                "hv:uri": f"https://{HOST}/images/image.img",
                "hv:format": "raw",
                "hv:size": "0",
                "sl:checksum:sha512": SHA512_ZERO,
                "hv:version": "1",
            },
        )
        store.link("image", LIST, IMAGE)
    finally:
        store.engine.dispose()
    publisher = Publisher(
        work,
        www,
        database,
        pki,
        {
            "HOME": str(work),
            "VMCASTER_RDBMS": database,
            "VMCASTER_CFG": str(work / "vmcaster.cfg"),
            "VMCASTER_X509_CERT": str(pki.cert_path("good")),
            "VMCASTER_X509_KEY": str(pki.key_path("good")),
        },
    )
    publisher.configure("local", f"{www}/")
    return publisher


@pytest.fixture(params=["sqlite", "postgres"])
def publisher(
    request: pytest.FixtureRequest, tmp_path: Path, test_pki: TestPki
) -> Iterator[Publisher]:
    """An endorser on SQLite, then on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield make_publisher(tmp_path, f"sqlite:///{tmp_path / 'vmcaster.db'}", test_pki)
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield make_publisher(tmp_path, url, test_pki)


def image_file(directory: Path, name: str = "image.img", size: int = 64 * 1024) -> Path:
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path
