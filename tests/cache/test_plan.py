"""The plan (pure) and the wanted images read from the database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from imagelist.cache.plan import (
    WantedImage,
    entry_sha512,
    entry_size,
    image_metadata,
    list_messages,
    plan_downloads,
    plan_expiry,
    read_stored_list,
    wanted_images,
)
from imagelist.db.subscriber import open_database
from imagelist.errors import DatabaseError

SHA = "ab" * 64


def _wanted(identifier: str, sha: str = SHA, size: int = 10) -> WantedImage:
    return WantedImage(
        identifier, "list", sha, size, "http://h/x", "t", "d", "1", "kvm", "", "", "", "", 1, "m"
    )


def test_expiry_and_download_plans() -> None:
    entries = {
        "same": {"sha512": SHA, "size": 10},
        "gone": {"sha512": SHA, "size": 10},
        "rehashed": {"sl:checksum:sha512": "cd" * 64, "hv:size": 10},
        "resized": {"sha512": SHA, "size": 11},
    }
    wanted = {k: _wanted(k) for k in ("same", "rehashed", "resized", "new")}
    # Only revocation expires at once; a new version replaces the old one after its download.
    assert [(e.key, e.reason) for e in plan_expiry(entries, wanted)] == [
        ("gone", "not subscribed or no longer available"),
    ]
    assert [w.identifier for w in plan_downloads(entries, wanted)] == [
        "rehashed",
        "resized",
        "new",
    ]
    assert entry_size({"size": "x"}) is None
    assert entry_size({}) is None
    assert entry_sha512({}) == ""


def test_metadata_without_a_readable_list(caplog: pytest.LogCaptureFixture) -> None:
    details = image_metadata(_wanted("img"), read_stored_list(b"not a signed message"))
    assert details["uuid"] == details["dc:identifier"] == "img"
    assert details["message"] == "not a signed message"
    assert not any(key.startswith("hv:image.") for key in details)
    assert "cannot be read again" in caplog.text
    assert image_metadata(_wanted("img"), None)["message"] == ""


def test_database_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    engine = open_database(url)
    assert wanted_images(engine) == {}
    assert list_messages(engine, []) == {}
    with engine.begin() as connection:
        connection.execute(sa.text('DROP TABLE "ImageInstance"'))
        connection.execute(sa.text('DROP TABLE "imageListInstance"'))
    with pytest.raises(DatabaseError, match="cannot read the image selections"):
        wanted_images(engine)
    with pytest.raises(DatabaseError, match="cannot read the stored lists"):
        list_messages(engine, [1])
    engine.dispose()
