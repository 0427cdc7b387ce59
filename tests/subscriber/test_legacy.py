"""Migration of a vmcatcher 0.6 database built from the reference DDL (§2.5)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from imagelist.db.subscriber import open_database
from imagelist.db.subscriber.legacy import migrate_legacy, open_legacy
from imagelist.errors import LegacyDatabaseError, UsageError
from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.support import LIST_ID, Site, make_image, make_list, sign

#: The vmcatcher 0.6 schema as SQLAlchemy created it in SQLite (reference §2.5).
DDL_06 = """
CREATE TABLE endorser (
    id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL,
    PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "endorserPrincible" (
    id INTEGER NOT NULL, hv_dn VARCHAR(50) NOT NULL, hv_ca VARCHAR(50) NOT NULL,
    endorser INTEGER,
    PRIMARY KEY (id), UNIQUE (hv_dn),
    FOREIGN KEY(endorser) REFERENCES endorser (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE subscription (
    id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, description VARCHAR(200),
    uri VARCHAR(200) NOT NULL, authorised BOOLEAN NOT NULL, imagelist_latest INTEGER,
    updated DATETIME, "trustAnchor" INTEGER NOT NULL, "userName" VARCHAR(200),
    password VARCHAR(200), "updateMode" INTEGER NOT NULL,
    PRIMARY KEY (id), UNIQUE (identifier), UNIQUE (uri), CHECK (authorised IN (0, 1)));
CREATE TABLE "subscriptionAuth" (
    id INTEGER NOT NULL, subscription INTEGER, endorser INTEGER, authorised BOOLEAN NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(subscription) REFERENCES subscription (id) ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY(endorser) REFERENCES endorser (id) ON DELETE CASCADE ON UPDATE CASCADE,
    CHECK (authorised IN (0, 1)));
CREATE TABLE "ImageDefinition" (
    id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, latest INTEGER,
    cache INTEGER NOT NULL, subscription INTEGER,
    PRIMARY KEY (id), UNIQUE (identifier),
    FOREIGN KEY(subscription) REFERENCES subscription (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE "imageListInstance" (
    id INTEGER NOT NULL, data BLOB NOT NULL, data_hash VARCHAR(128) NOT NULL, expired DATETIME,
    sub_auth INTEGER, imported DATETIME NOT NULL, created DATETIME NOT NULL,
    expires DATETIME NOT NULL, version VARCHAR(50) NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(sub_auth) REFERENCES "subscriptionAuth" (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE "ImageInstance" (
    id INTEGER NOT NULL, description VARCHAR(50) NOT NULL, hypervisor VARCHAR(50) NOT NULL,
    sha512 VARCHAR(128) NOT NULL, uri VARCHAR(128) NOT NULL, os VARCHAR(50),
    osversion VARCHAR(50), arch VARCHAR(50), version VARCHAR(50) NOT NULL,
    size INTEGER NOT NULL, title VARCHAR(100) NOT NULL, comments VARCHAR(100),
    "fkIdentifier" INTEGER, fkimagelistinstance INTEGER,
    PRIMARY KEY (id),
    FOREIGN KEY("fkIdentifier") REFERENCES "ImageDefinition" (id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY(fkimagelistinstance) REFERENCES "imageListInstance" (id)
        ON DELETE CASCADE ON UPDATE CASCADE);
"""


def _image_row(
    row_id: int, image_id: str, definition: int, list_instance: int
) -> tuple[object, ...]:
    image = make_image(image_id)
    return (
        row_id,
        image.description,
        image.hypervisor,
        image.sha512,
        image.uri,
        image.os,
        image.osversion,
        image.arch,
        image.version,
        image.size,
        image.title,
        image.comments,
        definition,
        list_instance,
    )


def build_legacy(path: Path, test_pki: TestPki, url: str) -> bytes:
    """A 0.6 database as a site would have it; returns the signed list stored as the latest."""
    signed = sign(
        make_list(test_pki.good, uri=url, images=(make_image("img-a"), make_image("img-b"))),
        test_pki.good,
    )
    old = b"an older signed list"
    stamp = "2026-11-20 10:00:00.000000"
    later = "2026-12-20 10:00:00.000000"
    with sqlite3.connect(path) as db:
        db.executescript(DDL_06)
        db.executemany(
            "INSERT INTO endorser VALUES (?, ?)", [(1, "ep-1"), (2, "ep-2"), (3, "ep-3")]
        )
        db.executemany(
            'INSERT INTO "endorserPrincible" VALUES (?, ?, ?, ?)',
            [
                (1, test_pki.good.subject_oneline, test_pki.good.issuer_oneline, 1),
                (5, test_pki.direct.subject_oneline, test_pki.direct.issuer_oneline, 2),  # D9
                (6, "/CN=orphan", "/CN=nobody", 99),
            ],
        )
        db.executemany(
            "INSERT INTO subscription VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    1,
                    LIST_ID,
                    "Test appliances",
                    url,
                    1,
                    2,
                    "2026-11-21 19:59:05.305093",
                    0,
                    "token",
                    "secret",
                    1,
                ),
                (
                    2,
                    "second-list",
                    "Second",
                    "https://u:p@example.org/x.list",
                    1,
                    None,
                    None,
                    0,
                    None,
                    None,
                    0,
                ),
                (3, "../evil", "Unsafe", "http://evil.example/", 1, 7, None, 0, None, None, 0),
            ],
        )
        db.executemany(
            'INSERT INTO "subscriptionAuth" VALUES (?, ?, ?, ?)',
            [(1, 1, 1, 1), (2, 2, 2, 1), (3, 3, 1, 1)],
        )
        db.executemany(
            'INSERT INTO "imageListInstance" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [
                (1, old, hashlib.sha512(old).hexdigest(), None, 1, stamp, stamp, later, "0.9"),
                (
                    2,
                    signed,
                    hashlib.sha512(signed).hexdigest(),
                    None,
                    1,
                    stamp,
                    stamp,
                    later,
                    "1.0",
                ),
            ],
        )
        db.executemany(
            'INSERT INTO "ImageDefinition" VALUES (?, ?, ?, ?, ?)',
            [
                (1, "img-a", 3, 1, 1),
                (2, "img-b", 4, 0, 1),
                (3, "img-old", 1, 1, 1),
                (4, "bad id", 0, 1, 1),
                (5, "img-s2", 0, 1, 2),
            ],
        )
        db.executemany(
            'INSERT INTO "ImageInstance" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [
                _image_row(1, "img-old", 3, 1),
                _image_row(2, "img-a", 1, 1),
                _image_row(3, "img-a", 1, 2),
                _image_row(4, "img-b", 2, 2),
                _image_row(5, "bad id", 4, 2),
            ],
        )
    return signed


def test_migration_keeps_what_the_site_chose(
    database_url: str, tmp_path: Path, test_pki: TestPki
) -> None:
    with HttpServer() as server:
        url = server.url("/image.list")
        legacy = tmp_path / "vmcatcher-0.6.db"
        signed = build_legacy(legacy, test_pki, url)
        fingerprint = hashlib.sha256(legacy.read_bytes()).hexdigest()
        site = Site(database_url, test_pki.trust_dir)
        result = site.subscribe("--migrate-legacy-db", f"sqlite:///{legacy}")
        assert result.code == 0, result.err
        assert result.out == (
            "migrated 3 endorsers, 2 principals, 2 subscriptions, 2 links, "
            "4 image definitions, 1 lists, 2 images; 1 older list instances not copied; "
            "3 items skipped (see the warnings)\n"
        )
        assert hashlib.sha256(legacy.read_bytes()).hexdigest() == fingerprint, "old DB untouched"

        assert site.image("-l").out == (
            f"img-a\t3\t{LIST_ID}\nimg-b\t2\t{LIST_ID}\nimg-old\t1\t{LIST_ID}\n"
            "img-s2\t1\tsecond-list\n"
        )
        assert site.endorser("-l").out == (
            f"'ep-1'\t'{test_pki.good.subject_oneline}'\t'{test_pki.good.issuer_oneline}'\n"
            f"'ep-2'\t'{test_pki.direct.subject_oneline}'\t'{test_pki.direct.issuer_oneline}'\n"
        )
        assert site.subscribe("-l").out == (
            f"{LIST_ID}\tTrue\tNone\t{url}\nsecond-list\tTrue\tNone\thttps://example.org/x.list\n"
        )
        credentials = site.query(
            'select "userName", password, "updateMode" from subscription order by id'
        )
        assert credentials == [("token", "secret", 1), ("u", "p", 0)]
        info = site.subscribe("-i", "-u", LIST_ID).out
        assert "subscription.dc:date:updated=2026-11-21T19:59:05Z" in info
        assert "imagelist.hv:version=1.0" in info
        assert site.subscribe("-i", "-u", LIST_ID, "-f", "SMIME").out.encode() == signed

        server.put("/image.list", signed, etag="auto")
        update = site.subscribe("-U", "-u", LIST_ID)
        assert update.code == 0
        assert "\tunchanged\tunchanged (version 1.0)" in update.out
        assert site.subscribe("-U", "-u", LIST_ID).out.endswith("not modified (version 1.0)\n")


def test_a_pre_04_database_without_the_newer_columns(tmp_path: Path, test_pki: TestPki) -> None:
    legacy = tmp_path / "old.db"
    ddl = DDL_06.replace(
        ', "trustAnchor" INTEGER NOT NULL, "userName" VARCHAR(200),\n    password VARCHAR(200), '
        '"updateMode" INTEGER NOT NULL',
        "",
    ).replace("data BLOB NOT NULL", "data VARCHAR(1000) NOT NULL")
    assert "trustAnchor" not in ddl
    with sqlite3.connect(legacy) as db:
        db.executescript(ddl)
        db.execute("INSERT INTO endorser VALUES (1, 'e')")
        db.execute("INSERT INTO subscription VALUES (1, 'l1', NULL, 'http://h/l', 1, 1, NULL)")
        db.execute('INSERT INTO "subscriptionAuth" VALUES (1, 1, 1, 1)')
        db.execute(
            "INSERT INTO \"imageListInstance\" VALUES (1, 'text list', 'x', NULL, 1, "
            "'2020-01-01 00:00:00', '2020-01-01 00:00:00', '2020-02-01 00:00:00', '1')"
        )
    target = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    report = migrate_legacy(f"sqlite:///{legacy}", target)
    assert report.counts == {"endorsers": 1, "subscriptions": 1, "links": 1, "lists": 1}
    site = Site(f"sqlite:///{tmp_path / 'new.db'}", test_pki.trust_dir)
    assert site.query(
        'select "trustAnchor", "updateMode", data from subscription, "imageListInstance"'
    ) == [(0, 0, b"text list")]


def test_refusals(tmp_path: Path, test_pki: TestPki) -> None:
    legacy = tmp_path / "old.db"
    build_legacy(legacy, test_pki, "http://h/l")
    target_url = f"sqlite:///{tmp_path / 'new.db'}"
    target = open_database(target_url)
    migrate_legacy(f"sqlite:///{legacy}", target)
    with pytest.raises(UsageError, match="already holds"):
        migrate_legacy(f"sqlite:///{legacy}", target)
    with pytest.raises(UsageError, match="new database"):
        migrate_legacy(target_url, target)
    not_legacy = tmp_path / "other.db"
    with sqlite3.connect(not_legacy) as db:
        db.execute("CREATE TABLE endorser (id INTEGER)")
    empty = open_database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(LegacyDatabaseError, match=r"not a vmcatcher 0\.6 database"):
        migrate_legacy(f"sqlite:///{not_legacy}", empty)
    with pytest.raises(LegacyDatabaseError):
        migrate_legacy(f"sqlite:///{tmp_path / 'missing.db'}", empty)
    with pytest.raises(UsageError, match="must be a file"):
        open_legacy("sqlite://")
    with pytest.raises(UsageError):
        open_legacy("nonsense://x")


def test_opening_the_old_database_directly_names_the_command(
    tmp_path: Path, test_pki: TestPki
) -> None:
    legacy = tmp_path / "vmcatcher.db"
    build_legacy(legacy, test_pki, "http://h/l")
    result = Site(f"sqlite:///{legacy}", test_pki.trust_dir).subscribe("-l")
    assert result.code == 36
    assert "is a vmcatcher 0.6 database" in result.err
    assert "--migrate-legacy-db" in result.err
