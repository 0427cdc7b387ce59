"""Test support for the subscriber: lists signed by the test PKI, databases, a site to run CLIs.

* :func:`make_image` / :func:`make_list` build documents; :func:`sign` signs them as vmcaster
  does (detached S/MIME) with a test PKI credential.
* :func:`fresh_database_url` gives an empty SQLite file or an empty PostgreSQL database.
* :class:`Site` is one subscriber site: a database URL and a trust directory, with
  :meth:`Site.run` to call a vmcatcher command in-process and :meth:`Site.snapshot` to read every
  row of every table (the security tests compare snapshots before and after an attack).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from imagelist.cli import vmcatcher_endorser, vmcatcher_image, vmcatcher_subscribe
from imagelist.db.subscriber import open_database
from imagelist.db.subscriber.models import MONITORING_TABLES, Base
from imagelist.document import Endorser, Image, ImageList
from imagelist.smime import sign_detached
from tests.pki import Credential

LIST_ID = "6b9c2f4e-3a1d-4c8e-9f5b-2d7e1a0c4b38"
COMMANDS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "vmcatcher_subscribe": vmcatcher_subscribe.main,
    "vmcatcher_image": vmcatcher_image.main,
    "vmcatcher_endorser": vmcatcher_endorser.main,
}


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def make_image(identifier: str, *, content: bytes | None = None, **fields: Any) -> Image:
    """An image whose sha512/size describe ``content`` (default: derived from the id)."""
    data = content if content is not None else identifier.encode() * 3
    values: dict[str, Any] = {
        "identifier": identifier,
        "title": f"Image {identifier}",
        "description": f"The {identifier} appliance",
        "uri": f"http://images.example/{identifier}.img",
        "size": len(data),
        "sha512": hashlib.sha512(data).hexdigest(),
        "arch": "x86_64",
        "os": "Linux",
        "osversion": "9",
        "comments": "",
        "hypervisor": "kvm",
        "version": "1",
        "unrecognized_fields": {"hv:format": "QCOW2"},
    }
    values.update(fields)
    return Image(**values)


def make_list(
    signer: Credential,
    *,
    identifier: str = LIST_ID,
    version: str = "1.0",
    images: Sequence[Image] = (),
    uri: str = "http://lists.example/image.list",
    created: datetime | None = None,
    expires: datetime | None = None,
    dn: str | None = None,
    ca: str | None = None,
    description: str = "Test appliances",
) -> ImageList:
    """A list claiming ``signer`` as endorser (or ``dn``/``ca`` if given)."""
    created = created or now() - timedelta(hours=1)
    return ImageList(
        identifier=identifier,
        title="Test list",
        description=description,
        source="imagelist tests",
        created=created,
        expires=expires or created + timedelta(days=28),
        version=version,
        uri=uri,
        endorsers=(
            Endorser(
                dn=dn or signer.subject_oneline,
                ca=ca or signer.issuer_oneline,
                email="endorser@example.org",
                creator="Test Endorser",
            ),
        ),
        images=tuple(images),
    )


def sign(imagelist: ImageList | bytes, signer: Credential) -> bytes:
    payload = imagelist if isinstance(imagelist, bytes) else imagelist.to_json_bytes()
    return sign_detached(payload, signer.cert, signer.key)  # type: ignore[arg-type]


@contextlib.contextmanager
def fresh_database_url(kind: str, tmp_path: Path, postgres_url: str | None) -> Iterator[str]:
    """An empty database: a SQLite file under ``tmp_path`` or a new PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'vmcatcher.db'}"
        return
    assert postgres_url is not None
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every vmcatcher table, ordered by id.

    The monitoring tables are left out: a refused list is recorded there (last attempt and
    error), which is a record of the run, not a change of the lists.
    """
    engine = open_database(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(row) for row in connection.execute(sa.select(table).order_by(table.c.id))
                ]
                for table in Base.metadata.sorted_tables
                if table.name not in MONITORING_TABLES
            }
    finally:
        engine.dispose()


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Site:
    """One subscriber site: a database and a trust directory."""

    database: str
    trust_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, command: str, *args: str, stdin: str | None = None) -> Result:
        """Run a vmcatcher command in-process with -d (and -c where it applies)."""
        argv = [*args, "-d", self.database]
        if command != "vmcatcher_endorser" and "-c" not in args:
            argv += ["-c", str(self.trust_dir)]
        out, err = io.StringIO(), io.StringIO()
        with _captured(out, err, stdin):
            code = COMMANDS[command](argv)
        return Result(code, out.getvalue(), err.getvalue())

    def subscribe(self, *args: str) -> Result:
        return self.run("vmcatcher_subscribe", *args)

    def image(self, *args: str) -> Result:
        return self.run("vmcatcher_image", *args)

    def endorser(self, *args: str) -> Result:
        return self.run("vmcatcher_endorser", *args)

    def register(self, identifier: str, signer: Credential) -> None:
        result = self.endorser(
            "--create",
            "-e",
            identifier,
            "--dn",
            signer.subject_oneline,
            "--issuer",
            signer.issuer_oneline,
        )
        assert result.code == 0, result.err

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return snapshot(self.database)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        engine = open_database(self.database)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(sql))]
        finally:
            engine.dispose()


class _BinaryStringIO(io.StringIO):
    """A StringIO that also takes bytes through ``.buffer`` (as sys.stdout does)."""

    def __init__(self, target: io.StringIO) -> None:
        super().__init__()
        self.target = target

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.target.write(data.decode("utf-8", errors="replace"))

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def _captured(out: io.StringIO, err: io.StringIO, stdin: str | None) -> Iterator[None]:
    import sys

    class _Stream(io.StringIO):
        def __init__(self, target: io.StringIO) -> None:
            super().__init__()
            self.target = target
            self.buffer = _BinaryStringIO(target)

        def write(self, data: str) -> int:
            return self.target.write(data)

    saved = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = _Stream(out), _Stream(err)  # type: ignore[assignment]
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        yield
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved


@dataclass
class World:
    """A site subscribed to one list served by the test HTTP server, version 1.0 accepted.

    The list has two images; ``img-a`` is subscribed (state 3), ``img-b`` is not (state 2).
    """

    site: Site
    server: Any  # tests.httpserver.HttpServer
    signer: Credential
    path: str = "/store/image.list"
    images: tuple[Image, ...] = ()

    @property
    def url(self) -> str:
        return self.server.url(self.path)

    def publish(
        self, imagelist: ImageList | bytes, signer: Credential | None = None, **options: Any
    ) -> bytes:
        """Serve a list (signed by ``signer``, default the world's) at the subscription URL."""
        data = imagelist if isinstance(imagelist, bytes) else sign(imagelist, signer or self.signer)
        self.server.put(self.path, data, etag="auto", **options)
        return data

    def make(self, **fields: Any) -> ImageList:
        """The world's list with some fields changed (same id, URI and images by default)."""
        fields.setdefault("images", self.images)
        fields.setdefault("uri", self.url)
        return make_list(self.signer, **fields)

    def update(self, *args: str) -> Result:
        return self.site.subscribe("-U", *args)

    def assert_refused(self, code: int, *args: str) -> Result:
        """-U refuses the served list with ``code`` and writes nothing at all."""
        before = self.site.snapshot()
        result = self.update(*args)
        assert result.code == code, (result.out, result.err)
        assert self.site.snapshot() == before, "the database must not change"
        assert "Traceback" not in result.err
        return result


def build_world(site: Site, server: Any, signer: Credential) -> World:
    """Register ``signer``, subscribe, accept version 1.0 and subscribe ``img-a``."""
    world = World(site, server, signer, images=(make_image("img-a"), make_image("img-b")))
    site.register("endorser-1", signer)
    world.publish(world.make(version="1.0"))
    assert site.subscribe("-s", world.url).code == 0
    result = world.update()
    assert result.code == 0, (result.out, result.err)
    assert site.image("-a", "-u", "img-a").code == 0
    return world
