"""Importing a vmcaster 0.0.x database (reference §3.2 DDL) and showing it as 0.0.x did."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect

from imagelist.cli.vmcaster import main
from imagelist.db.publisher import open_database
from imagelist.db.publisher.legacy import import_legacy_database
from imagelist.errors import UsageError
from imagelist.publisher.store import PublisherStore, vmcaster_json

# The schema vmcaster 0.0.37's declarative models make in SQLite (reference §3.2).
LEGACY_DDL = """
CREATE TABLE endorser (
    id INTEGER NOT NULL, subject VARCHAR(100) NOT NULL, PRIMARY KEY (id), UNIQUE (subject));
CREATE TABLE "endorserMetadata" (
    id INTEGER NOT NULL, "fkEndorser" INTEGER, "key" VARCHAR(200), value VARCHAR(200),
    PRIMARY KEY (id),
    FOREIGN KEY("fkEndorser") REFERENCES endorser (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE imagelist (
    id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, updated DATETIME,
    PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "ImagelistMetadata" (
    id INTEGER NOT NULL, "fkImageList" INTEGER, "key" VARCHAR(200), value VARCHAR(200),
    PRIMARY KEY (id),
    FOREIGN KEY("fkImageList") REFERENCES imagelist (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE "Image" (
    id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "ImageMetadata" (
    id INTEGER NOT NULL, "fkImage" INTEGER, "key" VARCHAR(200), value VARCHAR(200),
    PRIMARY KEY (id),
    FOREIGN KEY("fkImage") REFERENCES "Image" (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE "Endorsement" (
    id INTEGER NOT NULL, "fkImageList" INTEGER, "fkEndorser" INTEGER, PRIMARY KEY (id),
    FOREIGN KEY("fkImageList") REFERENCES imagelist (id) ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY("fkEndorser") REFERENCES endorser (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE "ImageListImage" (
    id INTEGER NOT NULL, "fkImageList" INTEGER, "fkImage" INTEGER, PRIMARY KEY (id),
    FOREIGN KEY("fkImageList") REFERENCES imagelist (id) ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY("fkImage") REFERENCES "Image" (id) ON DELETE CASCADE ON UPDATE CASCADE);
"""

LIST_A = "11111111-1111-4111-8111-111111111111"
LIST_B = "22222222-2222-4222-8222-222222222222"
LIST_C = "33333333-3333-4333-8333-333333333333"
IMAGE_1 = "aaaaaaaa-0000-4000-8000-000000000001"
IMAGE_2 = "aaaaaaaa-0000-4000-8000-000000000002"
IMAGE_3 = "aaaaaaaa-0000-4000-8000-000000000003"
DN_1 = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=buncic/CN=379010/CN=Predrag Buncic"
CA_1 = "/DC=ch/DC=cern/CN=CERN Trusted Certification Authority"
DN_2 = "/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge"

# What vmcaster 0.0.37 prints for --select-imagelist LIST_A --show-imagelist on that database
# (data/legacy-list-a.show, kept as a file for its trailing spaces):
# Python 2's json.dumps(sort_keys=True, indent=4) (", " separators: trailing spaces), hv:size
# as an integer, dc:identifier from the id column, the single endorser as an object, images in
# link order, and the later of two rows for the same key.
EXPECTED_A = (Path(__file__).parent / "data" / "legacy-list-a.show").read_text()


def make_legacy_db(path: Path) -> Path:
    """A vmcaster 0.0.x SQLite database with three lists, three images, two endorsers."""
    connection = sqlite3.connect(path)
    connection.executescript(LEGACY_DDL)
    rows: dict[str, list[tuple[object, ...]]] = {
        "endorser": [(1, DN_1), (2, DN_2)],
        "endorserMetadata": [
            (1, 1, "hv:ca", CA_1),
            (2, 1, "hv:email", "predrag.buncic@cern.ch"),
            (3, 1, "dc:creator", "Predrag Buncic"),
            (4, 2, "dc:creator", "Owen Synge"),
            (5, 9, "dc:creator", "orphan"),  # no such endorser
        ],
        "imagelist": [(1, LIST_A, None), (2, LIST_B, None), (3, LIST_C, None)],
        "ImagelistMetadata": [
            (1, 1, "dc:title", "Legacy list"),
            (2, 1, "dc:description", "Images of the legacy test"),
            (3, 1, "dc:source", "CERN"),
            (4, 1, "hv:uri", "http://cernvm.cern.ch/releases/image.list"),
            (5, 1, "hv:version", "3"),
            (6, 1, "dc:date:created", "2013-05-06T10:00:00Z"),
            (7, 1, "dc:date:expires", "2013-06-03T10:00:00Z"),
            (8, 2, "dc:title", "Second list"),
            (9, 2, "hv:version", "1"),
        ],
        "Image": [(1, IMAGE_1), (2, IMAGE_2), (3, IMAGE_3), (4, "")],  # an empty id: skipped
        "ImageMetadata": [
            (1, 1, "dc:title", "First"),
            (2, 1, "hv:size", 1024),  # an int, stored as text by SQLite's TEXT affinity
            (3, 1, "hv:uri", "http://cernvm.cern.ch/releases/first.img"),
            (4, 2, "dc:title", "Second"),
            (5, 2, "hv:size", "2048"),
            (6, 1, "dc:title", "First (renamed)"),  # same key again: the later row wins
            (7, 3, "dc:title", None),  # a NULL value: skipped
            (8, 3, "hv:size", "not a number"),
            (9, 3, "dc:identifier", "reserved"),  # 0.0.x let this override the id: skipped
        ],
        "Endorsement": [(1, 1, 1), (2, 2, 2), (3, 2, 1)],
        "ImageListImage": [(1, 1, 2), (2, 1, 1), (3, 2, 3), (4, 2, 1), (5, 1, 2), (6, 9, 1)],
    }
    for table, values in rows.items():
        marks = ", ".join("?" * len(values[0]))
        connection.executemany(f'INSERT INTO "{table}" VALUES ({marks})', values)
    connection.commit()
    connection.close()
    return path


def original_show(path: Path, identifier: str) -> str:
    """vmcaster 0.0.37's imageListShow, re-enacted with its own queries (no ORDER BY)."""
    db = sqlite3.connect(path)
    (list_id,) = db.execute(
        "SELECT id FROM imagelist WHERE identifier = ?", (identifier,)
    ).fetchone()
    body: dict[str, object] = {}
    for key, value in db.execute(
        'SELECT m."key", m.value FROM "ImagelistMetadata" m, imagelist l '
        'WHERE l.identifier = ? AND l.id = m."fkImageList"',
        (identifier,),
    ):
        body[key] = value
    images = []
    for image_id, image in db.execute(
        'SELECT DISTINCT i.id, i.identifier FROM "Image" i, imagelist l, "ImageListImage" x '
        'WHERE l.identifier = ? AND x."fkImageList" = l.id AND x."fkImage" = i.id',
        (identifier,),
    ):
        data: dict[str, object] = {"dc:identifier": image}
        for key, value in db.execute(
            'SELECT "key", value FROM "ImageMetadata" WHERE "fkImage" = ?', (image_id,)
        ):
            if value is None:
                continue
            data[key] = int(value) if key == "hv:size" and str(value).isdigit() else value
        images.append({"hv:image": data})
    if images:
        body["hv:images"] = images
    body["dc:identifier"] = identifier
    endorsers = []
    for endorser_id, subject in db.execute(
        'SELECT e.id, e.subject FROM endorser e, "Endorsement" x '
        'WHERE x."fkImageList" = ? AND x."fkEndorser" = e.id',
        (list_id,),
    ):
        x509 = dict(
            db.execute(
                'SELECT "key", value FROM "endorserMetadata" WHERE "fkEndorser" = ?',
                (endorser_id,),
            ).fetchall()
        )
        x509["hv:dn"] = subject
        endorsers.append({"hv:x509": x509})
    if endorsers:
        body["hv:endorser"] = endorsers[0] if len(endorsers) == 1 else endorsers
    db.close()
    return json.dumps({"hv:imagelist": body}, sort_keys=True, indent=4, separators=(", ", ": "))


def _show(capsys: pytest.CaptureFixture[str], url: str, identifier: str) -> str:
    assert main(["-d", url, "--select-imagelist", identifier, "--show-imagelist"]) == 0
    return capsys.readouterr().out


def test_import_and_show_as_the_original(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    legacy = make_legacy_db(tmp_path / "old.db")
    assert main(["-d", db_url, "--import-legacy-db", f"sqlite:///{legacy}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("imported 3 image list(s), 3 image(s), 2 endorser(s), ")
    assert "skipped 5 row(s)" in out
    assert _show(capsys, db_url, LIST_A) == EXPECTED_A
    assert original_show(legacy, LIST_A) + "\n" == EXPECTED_A
    assert ", \n" in EXPECTED_A  # Python 2's separators
    assert _show(capsys, db_url, LIST_C) == original_show(legacy, LIST_C) + "\n"
    # LIST_B has two endorsers: 0.0.x printed an array (D17); we print the first linked.
    shown_b = json.loads(_show(capsys, db_url, LIST_B))["hv:imagelist"]
    original_b = json.loads(original_show(legacy, LIST_B))["hv:imagelist"]
    assert isinstance(original_b["hv:endorser"], list)
    assert shown_b["hv:endorser"] == original_b["hv:endorser"][0]
    # 0.0.x let an image's "dc:identifier" key override its id; it is a reserved key now.
    assert original_b["hv:images"][0]["hv:image"]["dc:identifier"] == "reserved"
    original_b["hv:images"][0]["hv:image"]["dc:identifier"] = IMAGE_3
    assert {k: v for k, v in shown_b.items() if k != "hv:endorser"} == {
        k: v for k, v in original_b.items() if k != "hv:endorser"
    }
    assert shown_b["hv:images"][0]["hv:image"]["hv:size"] == "not a number"
    # Running it again changes nothing.
    assert main(["-d", db_url, "--import-legacy-db", f"sqlite:///{legacy}"]) == 0
    capsys.readouterr()
    assert _show(capsys, db_url, LIST_A) == EXPECTED_A
    assert main(["-d", db_url, "--list-image"]) == 0
    assert capsys.readouterr().out.split() == [IMAGE_1, IMAGE_2, IMAGE_3]


def test_import_in_place(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The new schema lives beside the 0.0.x tables: an old vmcaster.db is upgraded in place."""
    legacy = make_legacy_db(tmp_path / "vmcaster.db")
    url = f"sqlite:///{legacy}"
    engine = open_database(url)
    assert "vmcaster 0.0.x tables" in caplog.text
    report = import_legacy_database(url, engine)
    assert (report.imagelists, report.images, report.endorsers) == (3, 3, 2)
    store = PublisherStore(engine)
    assert vmcaster_json(store.show_imagelist(LIST_A)) + "\n" == EXPECTED_A
    tables = set(inspect(engine).get_table_names())
    assert {"imagelist", "Image", "vmcaster_imagelist"} <= tables
    engine.dispose()


def test_not_a_legacy_database(tmp_path: Path, sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    with pytest.raises(UsageError, match=r"not a vmcaster 0\.0\.x database"):
        import_legacy_database(sqlite_url, engine)
    with pytest.raises(UsageError, match="no such file"):
        import_legacy_database(f"sqlite:///{tmp_path / 'missing.db'}", engine)
    with pytest.raises(UsageError, match="invalid database URL"):
        import_legacy_database("nosuchdriver://x", engine)
    engine.dispose()


def test_broken_legacy_database(tmp_path: Path, sqlite_url: str) -> None:
    from imagelist.errors import DatabaseError

    legacy = make_legacy_db(tmp_path / "old.db")
    connection = sqlite3.connect(legacy)
    connection.execute('ALTER TABLE "ImageMetadata" RENAME COLUMN value TO valeur')
    connection.commit()
    connection.close()
    engine = open_database(sqlite_url)
    with pytest.raises(DatabaseError, match="cannot import"):
        import_legacy_database(f"sqlite:///{legacy}", engine)
    assert PublisherStore(engine).identifiers("imagelist") == []  # one transaction
    engine.dispose()
