"""The vmcaster database service: objects, keys, links, shown JSON, import rules.

Every test runs on SQLite and on a real PostgreSQL server (``db_url``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imagelist.db.publisher import open_database
from imagelist.errors import DatabaseError, DocumentError, PublishObjectNotFoundError, UsageError
from imagelist.publisher.store import PublisherStore, stored_text, vmcaster_json

LIST = "dfc470ab-0845-4c3b-bc6a-02f990388a17"
IMAGE = "a2e4ed5c-2f6b-4c7c-9d0a-3c1bd0f3e7a1"
DN = "/DC=es/DC=irisgrid/O=cesga/CN=alvarosimon"


@pytest.fixture
def store(db_url: str) -> Iterator[PublisherStore]:
    engine = open_database(db_url)
    yield PublisherStore(engine)
    engine.dispose()


def test_add_is_idempotent_and_listed_in_creation_order(store: PublisherStore) -> None:
    assert store.add("imagelist", "b")
    assert store.add("imagelist", "a")
    assert not store.add("imagelist", "a")
    assert store.identifiers("imagelist") == ["b", "a"]
    assert store.exists("imagelist", "a")
    assert not store.exists("image", "a")


def test_show_new_list_is_the_papers(store: PublisherStore) -> None:
    store.add("imagelist", LIST)
    assert store.show_imagelist(LIST) == {"hv:imagelist": {"dc:identifier": LIST}}


def test_keys_set_overwrite_delete(store: PublisherStore) -> None:
    store.add("image", IMAGE)
    store.set_key("image", IMAGE, "dc:title", "one")
    store.set_key("image", IMAGE, "dc:title", "two")
    store.set_key("image", IMAGE, "hv:size", "123")
    assert store.keys("image", IMAGE) == {"dc:title": "two", "hv:size": "123"}
    assert store.show_image(IMAGE) == {"dc:identifier": IMAGE, "dc:title": "two", "hv:size": 123}
    assert store.delete_key("image", IMAGE, "dc:title")
    assert not store.delete_key("image", IMAGE, "dc:title")
    assert store.get_key("image", IMAGE, "dc:title") is None


def test_endorser_keys_can_be_deleted(store: PublisherStore) -> None:
    """vmcaster 0.0.x logged 'not implemented yet' for --key-del-endorser."""
    store.add("endorser", DN)
    store.set_key("endorser", DN, "hv:email", "a@example.org")
    store.set_key("endorser", DN, "dc:creator", "Alvaro Simon")
    assert store.delete_key("endorser", DN, "hv:email")
    assert store.show_endorser(DN) == {"hv:dn": DN, "dc:creator": "Alvaro Simon"}


def test_show_endorser_turns_integers_into_numbers(store: PublisherStore) -> None:
    store.add("endorser", DN)
    store.set_key("endorser", DN, "x:count", " 42 ")
    assert store.show_endorser(DN)["x:count"] == 42


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("imagelist", "dc:identifier"),
        ("imagelist", "hv:images"),
        ("imagelist", "hv:endorser"),
        ("image", "dc:identifier"),
        ("endorser", "hv:dn"),
    ],
)
def test_reserved_keys_are_refused(store: PublisherStore, kind: str, key: str) -> None:
    identifier = DN if kind == "endorser" else LIST
    store.add(kind, identifier)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="reserved"):
        store.set_key(kind, identifier, key, "x")  # type: ignore[arg-type]


def test_bad_identifiers_and_keys(store: PublisherStore) -> None:
    with pytest.raises(UsageError, match="invalid image list identifier"):
        store.add("imagelist", " ")
    store.add("image", IMAGE)
    with pytest.raises(UsageError, match="invalid key"):
        store.set_key("image", IMAGE, "", "x")


def test_unknown_objects_are_one_line_errors(store: PublisherStore) -> None:
    with pytest.raises(PublishObjectNotFoundError, match="image list 'nope' does not exist"):
        store.show_imagelist("nope")
    with pytest.raises(PublishObjectNotFoundError, match="endorser"):
        store.set_key("endorser", DN, "dc:creator", "x")
    with pytest.raises(PublishObjectNotFoundError):
        store.delete("image", "nope")


def test_links_order_unlink_and_cascade(store: PublisherStore) -> None:
    store.add("imagelist", LIST)
    for image in ("i2", "i1", "i3"):
        store.add("image", image)
        assert store.link("image", LIST, image)
    assert not store.link("image", LIST, "i1")
    assert store.linked("image", LIST) == ["i2", "i1", "i3"]
    assert store.imagelists_of_image("i1") == [LIST]
    store.unlink("image", LIST, "i1")
    with pytest.raises(PublishObjectNotFoundError, match="not linked"):
        store.unlink("image", LIST, "i1")
    store.delete("image", "i3")  # the link goes with it
    assert store.linked("image", LIST) == ["i2"]
    store.delete("imagelist", LIST)
    assert store.imagelists_of_image("i2") == []
    assert store.identifiers("image") == ["i2", "i1"]


def test_show_imagelist_shapes(store: PublisherStore) -> None:
    store.add("imagelist", LIST)
    store.set_key("imagelist", LIST, "dc:title", "T")
    store.add("image", IMAGE)
    store.set_keys("image", IMAGE, {"hv:size": "10", "hv:uri": "http://h/x"})
    store.link("image", LIST, IMAGE)
    for dn, email in ((DN, "first@example.org"), ("/CN=second", "second@example.org")):
        store.add("endorser", dn)
        store.set_key("endorser", dn, "hv:email", email)
        store.link("endorser", LIST, dn)
    shown = store.show_imagelist(LIST)["hv:imagelist"]
    assert shown["hv:images"] == [
        {"hv:image": {"dc:identifier": IMAGE, "hv:size": 10, "hv:uri": "http://h/x"}}
    ]
    # Two linked endorsers: still one object (the first linked), never an array (D17).
    assert shown["hv:endorser"] == {"hv:x509": {"hv:dn": DN, "hv:email": "first@example.org"}}
    assert store.linked("endorser", LIST) == [DN, "/CN=second"]
    store.unlink("endorser", LIST, DN)
    assert store.show_imagelist(LIST)["hv:imagelist"]["hv:endorser"]["hv:x509"]["hv:dn"] == (
        "/CN=second"
    )


def test_non_integer_size_is_shown_as_text(store: PublisherStore) -> None:
    store.add("image", IMAGE)
    store.set_key("image", IMAGE, "hv:size", "big")
    assert store.show_image(IMAGE)["hv:size"] == "big"


def test_vmcaster_json_is_python2_bytes() -> None:
    text = vmcaster_json({"b": [1, 2], "a": "é"})
    assert text == '{\n    "a": "\\u00e9", \n    "b": [\n        1, \n        2\n    ]\n}'


def _document(version: str, title: str, image_version: str = "1.0") -> dict[str, object]:
    return {
        "hv:imagelist": {
            "dc:identifier": LIST,
            "dc:title": title,
            "hv:version": version,
            "ad:num": 3,
            "hv:images": [
                {"hv:image": {"dc:identifier": IMAGE, "hv:version": image_version, "hv:size": 5}},
                {"no": "image"},
                {"hv:image": {"dc:title": "no id"}},
            ],
            "hv:endorser": [
                {"hv:x509": {"hv:dn": DN, "hv:ca": "/CN=CA"}},
                {"hv:x509": {"hv:ca": "no dn"}},
            ],
        }
    }


def test_import_creates_links_and_keys(store: PublisherStore) -> None:
    assert store.import_document(_document("1.0", "first")) == LIST
    shown = store.show_imagelist(LIST)["hv:imagelist"]
    assert shown["dc:title"] == "first"
    assert shown["ad:num"] == "3"  # stored as text, as 0.0.x did
    assert shown["hv:images"][0]["hv:image"]["hv:size"] == 5
    assert shown["hv:endorser"] == {"hv:x509": {"hv:dn": DN, "hv:ca": "/CN=CA"}}
    assert store.linked("image", LIST) == [IMAGE]


def test_import_version_rule(store: PublisherStore) -> None:
    store.import_document(_document("1.1", "new", image_version="2.0"))
    store.import_document(_document("1.0", "old", image_version="1.0"))  # older: keys kept
    assert store.get_key("imagelist", LIST, "dc:title") == "new"
    assert store.get_key("image", IMAGE, "hv:version") == "2.0"
    store.import_document(_document("1.1", "same version"))  # equal: imported
    assert store.get_key("imagelist", LIST, "dc:title") == "same version"


def test_import_keeps_images_missing_from_the_new_list(store: PublisherStore) -> None:
    store.import_document(_document("1.0", "t"))
    document = _document("1.1", "t")
    document["hv:imagelist"]["hv:images"] = []  # type: ignore[index]
    store.import_document(document)
    assert store.linked("image", LIST) == [IMAGE]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"no": "wrapper"}, "no hv:imagelist"),
        ({"hv:imagelist": {"dc:title": "x"}}, "no dc:identifier"),
        ({"hv:imagelist": {"dc:identifier": LIST, "hv:images": {}}}, "not an array"),
    ],
)
def test_import_refuses_what_is_not_a_list(
    store: PublisherStore, document: dict[str, object], message: str
) -> None:
    with pytest.raises(DocumentError, match=message) as info:
        store.import_document(document)
    assert info.value.exit_code == 20
    assert store.identifiers("imagelist") == []


def test_record_publication(store: PublisherStore) -> None:
    from datetime import UTC, datetime

    store.add("imagelist", LIST)
    store.record_publication(LIST, {"hv:version": "0.0.1"}, datetime.now(UTC))
    assert store.get_key("imagelist", LIST, "hv:version") == "0.0.1"


def test_stored_text() -> None:
    assert stored_text("x") == "x"
    assert stored_text(12) == "12"
    assert stored_text({"b": 1, "a": [True]}) == '{"a": [true], "b": 1}'


def test_database_errors_are_one_line(tmp_path: object) -> None:
    store = PublisherStore(open_database("sqlite://"))
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE vmcaster_image_metadata")
    store.add("image", IMAGE)
    with pytest.raises(DatabaseError, match="no such table") as info:
        store.set_key("image", IMAGE, "k", "v")
    assert "\n" not in str(info.value)
