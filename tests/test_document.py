"""Tests for imagelist.document: the image list model (reference §1.1-§1.3, §1.5 step 3)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import re
import time
import types
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagelist.document import (
    MAX_DEPTH,
    MAX_IMAGE_SIZE,
    REQUIRED_ENDORSER_KEYS,
    REQUIRED_IMAGE_KEYS,
    REQUIRED_LIST_KEYS,
    DroppedImage,
    Endorser,
    Image,
    ImageList,
    format_date,
    is_safe_identifier,
    parse_date,
)
from imagelist.errors import DocumentError

SHA = (
    "8b4c269a60da1061b434b696c4a89293bea847b66bd8ba486a914d4209df6511"
    "93ee8d454f8231840b7500fab6740620c7111d9a17d08b743133dc393ba2c0d4"
)
INTEROP = Path(__file__).resolve().parent / "data" / "interop"
UNSIGNED_SAMPLES = [
    "hepixvmitrust/imagelist.json",
    "cloudkeeper/head/imagelist01.unsigned",
    "snf-vmcatcher/ImageListConfigTest.json",
]


def image_dict(
    identifier: str = "488dcdc4-9ab1-4fc8-a7ba-b7a5428ecb3d", /, **over: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dc:identifier": identifier,
        "dc:title": "README example VM",
        "dc:description": "This is an README example VM",
        "hv:uri": "http://example.org/example-image.img",
        "hv:size": 2147483648,
        "sl:checksum:sha512": SHA,
        "sl:arch": "x86_64",
        "sl:os": "Linux",
        "sl:osversion": "SL 5.5",
        "sl:comments": "",
        "hv:hypervisor": "kvm",
        "hv:version": "1",
    }
    data.update(over)
    return data


def endorser_dict(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "hv:dn": "/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge",
        "hv:ca": "/C=DE/O=GermanGrid/CN=GridKa-CA",
        "hv:email": "owen.synge@desy.de",
        "dc:creator": "Owen Synge",
    }
    data.update(over)
    return data


def list_body(images: Any = None, /, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dc:identifier": "4e186b44-2c64-40ea-97d5-e9e5c0bce059",
        "dc:title": "README example",
        "dc:description": "a README example of an image list",
        "dc:source": "example.org",
        "dc:date:created": "2011-03-10T17:09:12Z",
        "dc:date:expires": "2011-04-07T17:09:12Z",
        "hv:version": "1",
        "hv:uri": "http://example.org/example-image-list.image_list",
        "hv:endorser": {"hv:x509": endorser_dict()},
        "hv:images": [{"hv:image": image_dict()}] if images is None else images,
    }
    data.update(over)
    return data


def wrap(body: dict[str, Any]) -> dict[str, Any]:
    return {"hv:imagelist": body}


def encode(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")


def assert_one_line_error(excinfo: pytest.ExceptionInfo[DocumentError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert "\r" not in message
    assert len(message) < 400
    return message


# --- a valid list ---------------------------------------------------------------------------------


def test_valid_list_attributes() -> None:
    il = ImageList.from_dict(wrap(list_body()))
    assert il.identifier == "4e186b44-2c64-40ea-97d5-e9e5c0bce059"
    assert il.title == "README example"
    assert il.description == "a README example of an image list"
    assert il.source == "example.org"
    assert il.created == datetime(2011, 3, 10, 17, 9, 12, tzinfo=UTC)
    assert il.created.tzinfo is UTC
    assert il.expires == datetime(2011, 4, 7, 17, 9, 12, tzinfo=UTC)
    assert il.version == "1"
    assert il.uri == "http://example.org/example-image-list.image_list"
    assert il.endorser is il.endorsers[0]
    assert il.endorser.dn == "/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge"
    assert il.endorser.ca == "/C=DE/O=GermanGrid/CN=GridKa-CA"
    assert il.endorser.email == "owen.synge@desy.de"
    assert il.endorser.creator == "Owen Synge"
    assert il.vo is None
    assert il.dropped_images == ()
    assert il.warnings == ()
    assert il.legacy_unwrapped is False
    assert il.unrecognized_fields == {}
    (image,) = il.images
    assert image.identifier == "488dcdc4-9ab1-4fc8-a7ba-b7a5428ecb3d"
    assert image.title == "README example VM"
    assert image.description == "This is an README example VM"
    assert image.uri == "http://example.org/example-image.img"
    assert image.size == 2147483648
    assert image.sha512 == SHA
    assert image.has_valid_sha512
    assert (image.arch, image.os, image.osversion) == ("x86_64", "Linux", "SL 5.5")
    assert image.comments == ""
    assert image.hypervisor == "kvm"
    assert image.version == "1"
    assert image.format is None
    assert image.mpuri is None


def test_round_trip_exact() -> None:
    doc = wrap(list_body())
    il = ImageList.from_dict(doc)
    assert il.to_dict() == doc
    assert ImageList.from_bytes(il.to_json_bytes()) == il


def test_empty_images_is_valid() -> None:
    il = ImageList.from_dict(wrap(list_body([])))
    assert il.images == ()
    assert il.to_dict()["hv:imagelist"]["hv:images"] == []


def test_from_dict_does_not_alias_input() -> None:
    doc = wrap(list_body(**{"x:extra": {"nested": [1, 2]}}))
    il = ImageList.from_dict(doc)
    doc["hv:imagelist"]["x:extra"]["nested"].append(3)
    assert il.unrecognized_fields == {"x:extra": {"nested": [1, 2]}}
    out = il.to_dict()
    out["hv:imagelist"]["x:extra"]["nested"].append(4)
    assert il.unrecognized_fields == {"x:extra": {"nested": [1, 2]}}


def test_equality_and_hash_ignore_parse_details() -> None:
    a = ImageList.from_dict(wrap(list_body()))
    b = ImageList.from_dict(list_body())  # legacy: has a warning
    assert b.warnings
    assert a == b
    assert hash(a) == hash(b)
    assert a.images[0].equal_content(b.images[0])
    assert hash(a.images[0]) == hash(b.images[0])
    assert hash(a.endorser) == hash(b.endorser)


# --- list-level keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", REQUIRED_LIST_KEYS)
def test_missing_list_key(key: str) -> None:
    body = list_body()
    del body[key]
    with pytest.raises(DocumentError) as excinfo:
        ImageList.from_dict(wrap(body))
    message = assert_one_line_error(excinfo)
    assert message == f"image list is missing required key(s): {key}"
    assert excinfo.value.exit_code == 38


def test_missing_several_list_keys_named_in_order() -> None:
    body = list_body()
    del body["hv:uri"]
    del body["dc:source"]
    with pytest.raises(
        DocumentError, match=r"^image list is missing required key\(s\): dc:source, hv:uri$"
    ):
        ImageList.from_dict(wrap(body))


@pytest.mark.parametrize(
    "key", ["dc:identifier", "dc:title", "dc:description", "dc:source", "hv:version", "hv:uri"]
)
@pytest.mark.parametrize("value", [None, True, {}, [], ["x"], {"a": 1}])
def test_list_text_key_wrong_type(key: str, value: Any) -> None:
    with pytest.raises(DocumentError, match=re.escape(key)) as excinfo:
        ImageList.from_dict(wrap(list_body(**{key: value})))
    assert_one_line_error(excinfo)


def test_list_text_keys_as_numbers_round_trip() -> None:
    doc = wrap(list_body(**{"hv:version": 3, "dc:title": 1.5, "dc:source": 0}))
    il = ImageList.from_dict(doc)
    assert il.version == "3"
    assert il.title == "1.5"
    assert il.source == "0"
    assert il.to_dict() == doc
    assert json.loads(il.to_json_bytes()) == doc
    assert ImageList.from_bytes(il.to_json_bytes()) == il
    # A changed value is written as a string.
    bumped = dataclasses.replace(il, version="4")
    assert bumped.to_dict()["hv:imagelist"]["hv:version"] == "4"
    assert bumped.to_dict()["hv:imagelist"]["dc:title"] == 1.5


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), 10**5000], ids=["nan", "inf", "huge"]
)
def test_list_text_key_unusable_number(value: Any) -> None:
    # An integer beyond 64 bits is refused wherever it stands (issue 9 §4).
    with pytest.raises(DocumentError, match=r"hv:version|out of range"):
        ImageList.from_dict(wrap(list_body(**{"hv:version": value})))


def test_vo_property() -> None:
    il = ImageList.from_dict(wrap(list_body(**{"ad:vo": "some1.vo.net"})))
    assert il.vo == "some1.vo.net"
    assert ImageList.from_dict(wrap(list_body(**{"ad:vo": ["x"]}))).vo is None
    assert ImageList.from_dict(wrap(list_body(**{"ad:vo": 7}))).vo == "7"


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2011-03-10T17:09:12Z", datetime(2011, 3, 10, 17, 9, 12, tzinfo=UTC)),
        ("2499-12-31T22:00:00Z", datetime(2499, 12, 31, 22, 0, 0, tzinfo=UTC)),
        ("2000-02-29T00:00:00Z", datetime(2000, 2, 29, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_date_good(text: str, expected: datetime) -> None:
    parsed = parse_date(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert format_date(parsed) == text


BAD_DATES: list[Any] = [
    "2011-03-10 17:09:12Z",
    "2011-03-10T17:09:12",
    "2011-03-10T17:09:12.5Z",
    "2011-03-10T17:09:12+00:00",
    "2011-03-10T17:09:12z",
    "2011-03-10t17:09:12Z",
    "",
    " 2011-03-10T17:09:12Z",
    "2011-03-10T17:09:12Z\n",
    "2011-3-10T17:09:12Z",
    "20110310T170912Z",
    "2011-02-30T00:00:00Z",
    "2011-13-01T00:00:00Z",
    "2011-03-10T24:00:00Z",
    "2011-12-31T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "\u0662011-03-10T17:09:12Z",  # a non-ASCII digit
    "２０１１-03-10T17:09:12Z",
    1299777000,
    None,
    1.5,
    ["2011-03-10T17:09:12Z"],
    "2011-03-10T17:09:12Z" * 20,
]


@pytest.mark.parametrize("value", BAD_DATES)
def test_parse_date_bad(value: Any) -> None:
    with pytest.raises(DocumentError, match="invalid date") as excinfo:
        parse_date(value)
    assert_one_line_error(excinfo)


@pytest.mark.parametrize("key", ["dc:date:created", "dc:date:expires"])
@pytest.mark.parametrize("value", BAD_DATES)
def test_list_bad_date_names_key_and_value(key: str, value: Any) -> None:
    with pytest.raises(DocumentError) as excinfo:
        ImageList.from_dict(wrap(list_body(**{key: value})))
    message = assert_one_line_error(excinfo)
    assert key in message
    if isinstance(value, str) and value:
        assert repr(value)[:20] in message


def test_long_date_value_is_truncated_in_message() -> None:
    value = "x" * 10_000
    with pytest.raises(DocumentError) as excinfo:
        ImageList.from_dict(wrap(list_body(**{"dc:date:created": value})))
    assert len(assert_one_line_error(excinfo)) < 200


def test_format_date() -> None:
    assert format_date(datetime(2011, 3, 10, 17, 9, 12, 999_999)) == "2011-03-10T17:09:12Z"
    cet = timezone(timedelta(hours=1))
    assert format_date(datetime(2011, 3, 10, 18, 9, 12, tzinfo=cet)) == "2011-03-10T17:09:12Z"
    assert format_date(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05Z"


def test_constructed_list_normalises_dates() -> None:
    il = ImageList.from_dict(wrap(list_body()))
    cet = timezone(timedelta(hours=1))
    changed = dataclasses.replace(
        il,
        created=datetime(2020, 1, 1, 12, 0, 0, 123456),  # naive: UTC
        expires=datetime(2020, 1, 29, 13, 0, 0, tzinfo=cet),
    )
    assert changed.created == datetime(2020, 1, 1, 12, tzinfo=UTC)
    assert changed.created.tzinfo is UTC
    assert changed.expires == datetime(2020, 1, 29, 12, tzinfo=UTC)
    assert changed.expires.tzinfo is UTC
    body = changed.to_dict()["hv:imagelist"]
    assert body["dc:date:created"] == "2020-01-01T12:00:00Z"
    assert body["dc:date:expires"] == "2020-01-29T12:00:00Z"
    assert ImageList.from_bytes(changed.to_json_bytes()) == changed


# --- endorsers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", REQUIRED_ENDORSER_KEYS)
def test_missing_endorser_key(key: str) -> None:
    x509 = endorser_dict()
    del x509[key]
    with pytest.raises(DocumentError) as excinfo:
        ImageList.from_dict(wrap(list_body(**{"hv:endorser": {"hv:x509": x509}})))
    message = assert_one_line_error(excinfo)
    assert message == f"hv:endorser/hv:x509 is missing required key(s): {key}"


@pytest.mark.parametrize("key", REQUIRED_ENDORSER_KEYS)
@pytest.mark.parametrize("value", [None, False, {}, []])
def test_endorser_key_wrong_type(key: str, value: Any) -> None:
    x509 = endorser_dict(**{key: value})
    with pytest.raises(DocumentError, match=re.escape(key)):
        ImageList.from_dict(wrap(list_body(**{"hv:endorser": {"hv:x509": x509}})))


@pytest.mark.parametrize(
    ("endorser", "fragment"),
    [
        ({}, "hv:endorser has no hv:x509 object"),
        ("x", "hv:endorser must be an object, got string"),
        (None, "hv:endorser must be an object, got null"),
        ({"hv:x509": "x"}, "hv:endorser/hv:x509 must be an object, got string"),
        ([], "hv:endorser is an empty array"),
        ([{"hv:x509": endorser_dict()}, {}], "hv:endorser[1] has no hv:x509 object"),
        ([{"hv:x509": endorser_dict()}, 5], "hv:endorser[1] must be an object, got number"),
        (
            [{"hv:x509": endorser_dict()}, {"hv:x509": {}}],
            "hv:endorser[1]/hv:x509 is missing required key(s): hv:dn, hv:ca, hv:email, dc:creator",
        ),
    ],
)
def test_bad_endorser(endorser: Any, fragment: str) -> None:
    with pytest.raises(DocumentError) as excinfo:
        ImageList.from_dict(wrap(list_body(**{"hv:endorser": endorser})))
    assert fragment in assert_one_line_error(excinfo)


def test_endorser_array() -> None:
    first = endorser_dict()
    second = endorser_dict(**{"hv:dn": "/CN=second", "hv:ca": "/CN=second CA", "x:k": 1})
    il = ImageList.from_dict(
        wrap(list_body(**{"hv:endorser": [{"hv:x509": first}, {"hv:x509": second}]}))
    )
    assert [e.dn for e in il.endorsers] == [first["hv:dn"], "/CN=second"]
    assert il.endorser.dn == first["hv:dn"]
    # to_dict always writes one object: the first endorser.
    assert il.to_dict()["hv:imagelist"]["hv:endorser"] == {"hv:x509": first}
    assert il.endorser_for("/CN=second", "/CN=second CA") is il.endorsers[1]
    assert il.endorser_for(first["hv:dn"], first["hv:ca"]) is il.endorsers[0]
    assert il.endorser_for("/CN=second", first["hv:ca"]) is None
    assert il.endorser_for("/cn=second", "/CN=second CA") is None  # exact match only
    assert il.endorsers[1].unrecognized_fields == {"x:k": 1}


def test_endorser_for_returns_first_match() -> None:
    same = endorser_dict()
    il = ImageList.from_dict(
        wrap(
            list_body(
                **{
                    "hv:endorser": [
                        {"hv:x509": same},
                        {"hv:x509": endorser_dict(**{"hv:email": "b"})},
                    ]
                }
            )
        )
    )
    assert il.endorser_for(same["hv:dn"], same["hv:ca"]) is il.endorsers[0]


def test_endorser_wrapper_extra_keys_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="imagelist.document"):
        il = ImageList.from_dict(
            wrap(list_body(**{"hv:endorser": {"hv:x509": endorser_dict(), "junk": 1}}))
        )
    assert any("ignored key(s) beside hv:x509: 'junk'" in w for w in il.warnings)
    assert "beside hv:x509" in caplog.text


def test_endorser_from_dict_direct() -> None:
    endorser = Endorser.from_dict(endorser_dict(**{"hv:email": 42}))
    assert endorser.email == "42"
    assert endorser.to_dict() == endorser_dict(**{"hv:email": 42})
    with pytest.raises(DocumentError, match="endorser is missing required key"):
        Endorser.from_dict({})
    with pytest.raises(DocumentError, match="endorser must be an object"):
        Endorser.from_dict([])  # type: ignore[arg-type]


def test_no_endorser_constructed() -> None:
    il = ImageList.from_dict(wrap(list_body()))
    with pytest.raises(DocumentError, match="no endorser"):
        dataclasses.replace(il, endorsers=())


# --- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", REQUIRED_IMAGE_KEYS)
def test_missing_image_key_drops_image(key: str, caplog: pytest.LogCaptureFixture) -> None:
    bad = image_dict("bad-image")
    del bad[key]
    images = [
        {"hv:image": image_dict("good-1")},
        {"hv:image": bad},
        {"hv:image": image_dict("good-2")},
    ]
    with caplog.at_level(logging.WARNING, logger="imagelist.document"):
        il = ImageList.from_dict(wrap(list_body(images)))
    assert [image.identifier for image in il.images] == ["good-1", "good-2"]
    (dropped,) = il.dropped_images
    expected_id = None if key == "dc:identifier" else "bad-image"
    assert dropped.identifier == expected_id
    assert dropped.missing == (key,)
    assert dropped.invalid == ()
    assert key in dropped.reason
    (warning,) = il.warnings
    assert "hv:images[1]" in warning
    assert repr(expected_id) in warning
    assert key in warning
    assert "\n" not in warning
    assert warning in caplog.text
    records = [r for r in caplog.records if r.name == "imagelist.document"]
    assert [r.levelno for r in records] == [logging.WARNING]


def test_image_missing_several_keys() -> None:
    bad = image_dict("bad")
    for key in ("sl:comments", "hv:size", "sl:arch"):
        del bad[key]
    il = ImageList.from_dict(wrap(list_body([{"hv:image": bad}])))
    assert il.images == ()
    assert il.dropped_images[0].missing == ("hv:size", "sl:arch", "sl:comments")
    assert "missing required key(s): hv:size, sl:arch, sl:comments" in il.warnings[0]


@pytest.mark.parametrize(
    "size",
    [-1, "-1", "abc", "", " 12", "12 ", "+12", "1.5", "1e3", 1.5, 2.0, True, None, [], {}, "١٢"],
)
def test_bad_size_drops_image(size: Any) -> None:
    il = ImageList.from_dict(
        wrap(list_body([{"hv:image": image_dict("img", **{"hv:size": size})}]))
    )
    assert il.images == ()
    (dropped,) = il.dropped_images
    assert dropped.identifier == "img"
    assert dropped.missing == ()
    assert dropped.invalid == ("hv:size",)
    assert "invalid hv:size" in dropped.reason
    assert "hv:size" in il.warnings[0]


@pytest.mark.parametrize("key", [k for k in REQUIRED_IMAGE_KEYS if k != "hv:size"])
@pytest.mark.parametrize("value", [None, True, {}, ["x"]])
def test_bad_image_text_value_drops_image(key: str, value: Any) -> None:
    il = ImageList.from_dict(wrap(list_body([{"hv:image": image_dict("img", **{key: value})}])))
    assert il.images == ()
    (dropped,) = il.dropped_images
    assert dropped.invalid == (key,)
    assert f"invalid {key}" in dropped.reason
    assert dropped.identifier == (None if key == "dc:identifier" else "img")


def test_image_missing_and_invalid_reported_together() -> None:
    bad = image_dict("img", **{"hv:size": "x", "sl:os": None})
    del bad["dc:title"]
    il = ImageList.from_dict(wrap(list_body([{"hv:image": bad}])))
    (dropped,) = il.dropped_images
    assert dropped.missing == ("dc:title",)
    assert dropped.invalid == ("sl:os", "hv:size")
    assert dropped.reason.startswith("missing required key(s): dc:title; invalid sl:os")


@pytest.mark.parametrize(
    ("element", "reason"),
    [
        ("x", "not an object (got string)"),
        (None, "not an object (got null)"),
        ([], "not an object (got array)"),
        ({}, "no hv:image object"),
        ({"hv:img": image_dict()}, "no hv:image object"),
        ({"hv:image": "x"}, "hv:image is not an object (got string)"),
        ({"hv:image": [image_dict()]}, "hv:image is not an object (got array)"),
    ],
)
def test_bad_image_element_dropped(element: Any, reason: str) -> None:
    il = ImageList.from_dict(wrap(list_body([element, {"hv:image": image_dict("ok")}])))
    assert [image.identifier for image in il.images] == ["ok"]
    assert il.dropped_images == (DroppedImage(None, (), reason),)
    assert il.warnings == (f"hv:images[0]: image None dropped: {reason}",)


@pytest.mark.parametrize("images", [None, {}, "x", 3, {"hv:image": image_dict()}])
def test_images_not_an_array(images: Any) -> None:
    with pytest.raises(DocumentError, match="hv:images must be an array"):
        ImageList.from_dict(wrap(list_body(**{"hv:images": images})))


def test_image_wrapper_extra_keys_warn() -> None:
    il = ImageList.from_dict(wrap(list_body([{"hv:image": image_dict(), "extra": 1}])))
    assert len(il.images) == 1
    assert il.warnings == ("hv:images[0]: ignored key(s) beside hv:image: 'extra'",)


def test_duplicate_image_ids_warn_but_are_kept() -> None:
    images = [
        {"hv:image": image_dict("same")},
        {"hv:image": image_dict("same", **{"hv:version": "2"})},
    ]
    il = ImageList.from_dict(wrap(list_body(images)))
    assert len(il.images) == 2
    assert il.warnings == ("hv:images[1]: image 'same' is listed more than once",)


def test_size_int_round_trip() -> None:
    image = Image.from_dict(image_dict(**{"hv:size": 0}))
    assert image.size == 0
    assert image.to_dict()["hv:size"] == 0


@pytest.mark.parametrize(("text", "value"), [("121243136", 121243136), ("0", 0), ("0012", 12)])
def test_size_string_round_trip(text: str, value: int) -> None:
    image = Image.from_dict(image_dict(**{"hv:size": text}))
    assert image.size == value
    assert image.to_dict()["hv:size"] == text
    # A changed size keeps the string form; a new Image writes an int.
    assert dataclasses.replace(image, size=5).to_dict()["hv:size"] == "5"
    fresh = Image(
        **{
            f.name: getattr(image, f.name)
            for f in dataclasses.fields(image)
            if not f.name.startswith("_")
        }
    )
    assert fresh.to_dict()["hv:size"] == value
    assert fresh == image


def test_size_string_too_long_is_invalid() -> None:
    with pytest.raises(DocumentError, match="invalid hv:size"):
        Image.from_dict(image_dict(**{"hv:size": "9" * 5000}))


def test_size_up_to_the_cap_is_accepted() -> None:
    assert Image.from_dict(image_dict(**{"hv:size": MAX_IMAGE_SIZE})).size == MAX_IMAGE_SIZE
    text = Image.from_dict(image_dict(**{"hv:size": str(MAX_IMAGE_SIZE)}))
    assert text.size == MAX_IMAGE_SIZE


@pytest.mark.parametrize(
    "size",
    [MAX_IMAGE_SIZE + 1, 2**63 - 1, str(MAX_IMAGE_SIZE + 1), "9" * 30],
    ids=["cap+1", "int64-max", "text-cap+1", "text-huge"],
)
def test_size_above_the_cap_makes_the_list_invalid(size: Any) -> None:
    """Issue 9 §4: not a dropped image (a revocation) but an invalid list (exit 38)."""
    with pytest.raises(DocumentError, match=r"hv:size .* larger than the limit") as excinfo:
        ImageList.from_dict(wrap(list_body([{"hv:image": image_dict(**{"hv:size": size})}])))
    assert excinfo.value.exit_code == 38
    with pytest.raises(DocumentError, match="larger than the limit"):
        Image.from_dict(image_dict(**{"hv:size": size}))


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_refused_everywhere(number: int) -> None:
    body = list_body(**{"ad:extra": {"deep": [number]}})
    with pytest.raises(DocumentError, match="out of range"):
        ImageList.from_dict(wrap(body))
    with pytest.raises(DocumentError, match="out of range"):
        ImageList.from_bytes(json.dumps(wrap(body)).encode())
    inside = list_body(**{"ad:extra": {"deep": [2**63 - 1, -(2**63)]}})
    assert ImageList.from_bytes(json.dumps(wrap(inside)).encode()).unrecognized_fields[
        "ad:extra"
    ] == {"deep": [2**63 - 1, -(2**63)]}


@pytest.mark.parametrize("size", [-1, True])
def test_constructed_image_bad_size(size: int) -> None:
    image = Image.from_dict(image_dict())
    with pytest.raises(DocumentError, match="non-negative integer"):
        dataclasses.replace(image, size=size)


def test_sha512_upper_case_normalised() -> None:
    image = Image.from_dict(image_dict(**{"sl:checksum:sha512": SHA.upper()}))
    assert image.sha512 == SHA
    assert image.has_valid_sha512
    assert image.to_dict()["sl:checksum:sha512"] == SHA
    assert image == Image.from_dict(image_dict())
    mixed = SHA[:64].upper() + SHA[64:]
    assert Image.from_dict(image_dict(**{"sl:checksum:sha512": mixed})).sha512 == SHA
    assert dataclasses.replace(image, sha512=SHA.upper()).sha512 == SHA


@pytest.mark.parametrize("value", ["CHECKSUM", SHA[:-1], SHA + "0", "g" * 128, "", " " + SHA[1:]])
def test_sha512_other_values_kept_verbatim(value: str) -> None:
    image = Image.from_dict(image_dict(**{"sl:checksum:sha512": value}))
    assert image.sha512 == value
    assert not image.has_valid_sha512
    assert image.to_dict()["sl:checksum:sha512"] == value


def test_image_text_numbers_round_trip() -> None:
    data = image_dict(**{"hv:version": 1, "sl:osversion": 6.0, "sl:checksum:sha512": 0})
    image = Image.from_dict(data)
    assert image.version == "1"
    assert image.osversion == "6.0"
    assert image.sha512 == "0"
    assert image.to_dict() == data
    assert isinstance(image.to_dict()["hv:version"], int)
    changed = dataclasses.replace(image, version="2")
    assert changed.to_dict()["hv:version"] == "2"
    assert changed.to_dict()["sl:osversion"] == 6.0


def test_image_optional_properties() -> None:
    image = Image.from_dict(
        image_dict(**{"hv:format": "OVA", "ad:mpuri": "https://m/1:2/", "sl:osname": "SL"})
    )
    assert image.format == "OVA"
    assert image.mpuri == "https://m/1:2/"
    assert image.unrecognized_fields == {
        "hv:format": "OVA",
        "ad:mpuri": "https://m/1:2/",
        "sl:osname": "SL",
    }
    assert Image.from_dict(image_dict(**{"hv:format": None})).format is None


def test_image_from_dict_direct_invalid() -> None:
    data = image_dict("x")
    del data["dc:title"]
    with pytest.raises(
        DocumentError, match=r"^image 'x' is invalid: missing required key\(s\): dc:title$"
    ):
        Image.from_dict(data)
    with pytest.raises(DocumentError, match="is not an object"):
        Image.from_dict("x")  # type: ignore[arg-type]


# --- unknown keys, legacy form, top level ---------------------------------------------------------


def test_unknown_keys_kept_at_all_levels() -> None:
    image = image_dict(
        **{
            "ad:group": "General group",
            "dc:date:expires": "2499-12-31T22:00:00Z",
            "x:n": [1, {"a": None}],
        }
    )
    endorser = endorser_dict(**{"x:e": {"deep": [True, 1.5]}})
    doc = wrap(
        list_body(
            [{"hv:image": image}],
            **{"ad:vo": "vo", "x:l": None, "hv:endorser": {"hv:x509": endorser}},
        )
    )
    il = ImageList.from_dict(doc)
    assert il.unrecognized_fields == {"ad:vo": "vo", "x:l": None}
    assert il.endorser.unrecognized_fields == {"x:e": {"deep": [True, 1.5]}}
    assert il.images[0].unrecognized_fields == {
        "ad:group": "General group",
        "dc:date:expires": "2499-12-31T22:00:00Z",
        "x:n": [1, {"a": None}],
    }
    assert il.to_dict() == doc
    assert json.loads(il.to_json_bytes()) == doc


def test_required_attribute_wins_over_unrecognized_duplicate() -> None:
    il = ImageList.from_dict(wrap(list_body()))
    odd = dataclasses.replace(il, unrecognized_fields={"hv:version": "999", "x": 1})
    body = odd.to_dict()["hv:imagelist"]
    assert body["hv:version"] == "1"
    assert body["x"] == 1


def test_legacy_unwrapped(caplog: pytest.LogCaptureFixture) -> None:
    body = list_body(**{"x:extra": 1})
    with caplog.at_level(logging.WARNING, logger="imagelist.document"):
        il = ImageList.from_dict(body)
    assert il.legacy_unwrapped is True
    assert len(il.warnings) == 1
    assert "no hv:imagelist wrapper" in il.warnings[0]
    assert "deprecated" in caplog.text
    assert il.to_dict() == wrap(body)
    again = ImageList.from_bytes(il.to_json_bytes())
    assert again.legacy_unwrapped is False
    assert again == il


def test_legacy_unwrapped_missing_keys_named() -> None:
    with pytest.raises(DocumentError, match=r"missing required key\(s\): dc:title"):
        ImageList.from_dict({k: v for k, v in list_body().items() if k != "dc:title"})


@pytest.mark.parametrize("top", [{}, {"foo": 1}, {"hv:image": image_dict()}])
def test_top_level_without_list(top: dict[str, Any]) -> None:
    with pytest.raises(DocumentError, match="has no hv:imagelist object"):
        ImageList.from_dict(top)


@pytest.mark.parametrize("inner", [None, [], "x", 1])
def test_wrapper_not_an_object(inner: Any) -> None:
    with pytest.raises(DocumentError, match="hv:imagelist must be an object"):
        ImageList.from_dict({"hv:imagelist": inner})


def test_top_level_extra_keys_warn_and_are_not_written() -> None:
    keys = [f"k{i}" for i in range(7)]
    doc = {"hv:imagelist": list_body(), **dict.fromkeys(keys, 1)}
    il = ImageList.from_dict(doc)
    assert il.warnings == (
        "ignored top-level key(s) beside hv:imagelist: 'k0', 'k1', 'k2', 'k3', 'k4' and 2 more",
    )
    assert il.to_dict() == wrap(list_body())


# --- from_dict input checking ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, [], "x", 1, b"{}"])
def test_from_dict_not_a_mapping(data: Any) -> None:
    with pytest.raises(DocumentError):
        ImageList.from_dict(data)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({1: "x"}, "key that is not a string"),
        ({"x": {1, 2}}, "not JSON: set"),
        ({"x": object()}, "not JSON: object"),
        ({"x": b"bytes"}, "not JSON: bytes"),
        ({"x": "\ud800"}, "lone surrogate"),
        ({"\udfff": "x"}, "lone surrogate"),
    ],
)
def test_from_dict_rejects_non_json(extra: dict[Any, Any], fragment: str) -> None:
    body = list_body()
    body.update(extra)
    with pytest.raises(DocumentError, match=fragment):
        ImageList.from_dict(wrap(body))


def test_from_dict_accepts_tuples_mappings_and_shared_objects() -> None:
    shared = {"a": [1, 2]}
    body = list_body(
        (types.MappingProxyType({"hv:image": image_dict()}),),
        **{"x:1": shared, "x:2": shared},
    )
    il = ImageList.from_dict(types.MappingProxyType(wrap(body)))
    assert len(il.images) == 1
    assert il.unrecognized_fields["x:1"] == {"a": [1, 2]}
    assert json.loads(il.to_json_bytes())["hv:imagelist"]["x:2"] == {"a": [1, 2]}


def test_from_dict_cyclic_structure() -> None:
    body = list_body()
    loop: dict[str, Any] = {}
    loop["self"] = loop
    body["x:loop"] = loop
    with pytest.raises(DocumentError, match="nested deeper than 64"):
        ImageList.from_dict(wrap(body))


def test_from_dict_shared_object_too_deep_at_second_use() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH - 4):
        deep = [deep]
    body = list_body(**{"a": deep})
    body["z"] = {"y": {"x": {"w": deep}}}  # the same object, nested deeper
    with pytest.raises(DocumentError, match="nested deeper"):
        ImageList.from_dict(wrap(body))


def test_from_dict_exponential_sharing_is_linear() -> None:
    node: Any = []
    for _ in range(40):
        node = [node, node]
    start = time.monotonic()
    il = ImageList.from_dict(wrap(list_body(**{"x:dag": node})))
    assert time.monotonic() - start < 5
    assert il.unrecognized_fields["x:dag"][0] is il.unrecognized_fields["x:dag"][1]


def test_nesting_limit_boundary() -> None:
    def nested(levels: int) -> Any:
        value: Any = 0
        for _ in range(levels):
            value = [value]
        return value

    # top object + hv:imagelist object = 2 levels of containers already.
    ok = wrap(list_body(**{"x": nested(MAX_DEPTH - 2)}))
    ImageList.from_dict(ok)
    ImageList.from_bytes(encode(ok))
    too_deep = wrap(list_body(**{"x": nested(MAX_DEPTH - 1)}))
    with pytest.raises(DocumentError, match="nested deeper than 64"):
        ImageList.from_dict(too_deep)
    with pytest.raises(DocumentError, match="nested deeper than 64"):
        ImageList.from_bytes(encode(too_deep))


# --- from_bytes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"\xff\xfe{}", r"^image list is not valid UTF-8: invalid start byte at byte 0$"),
        (b'{"a": "\xc3"}', "not valid UTF-8"),
        (b'{\n  "a": 1,\n}', r"^image list is not valid JSON: .* at line 3 column 1$"),
        (b"", "not valid JSON"),
        (b"   ", "not valid JSON"),
        (b"{} {}", "Extra data"),
        (b"{'a': 1}", "not valid JSON"),
        (b"[]", "must be a JSON object, got array"),
        (b'"x"', "must be a JSON object, got string"),
        (b"1", "must be a JSON object, got number"),
        (b"true", "must be a JSON object, got boolean"),
        (b"NaN", "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": ' + b"1" * 5000 + b"}", "out of range"),
        (b'{"a": "\\ud800"}', "lone surrogate"),
        (b"[" * 100_000, "nested deeper"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested deeper"),
        (b'{"a":' * 500 + b"1" + b"}" * 500, "nested deeper"),
        (b"[" * 500 + b"]" * 500, "must be a JSON object, got array"),
        (b"\xef\xbb\xbf\xef\xbb\xbf{}", "not valid JSON"),  # only one BOM is tolerated
        (b"{}", "has no hv:imagelist object"),
    ],
)
def test_from_bytes_bad(data: bytes, pattern: str) -> None:
    with pytest.raises(DocumentError, match=pattern) as excinfo:
        ImageList.from_bytes(data)
    assert_one_line_error(excinfo)
    assert excinfo.value.exit_code == 38


def test_from_bytes_null_is_exit_37() -> None:
    for data in (b"null", b" null\n", b"\xef\xbb\xbfnull"):
        with pytest.raises(DocumentError, match="null") as excinfo:
            ImageList.from_bytes(data)
        assert excinfo.value.exit_code == 37


def test_from_bytes_bom_tolerated_and_other_buffers() -> None:
    raw = encode(wrap(list_body()))
    expected = ImageList.from_bytes(raw)
    assert ImageList.from_bytes(b"\xef\xbb\xbf" + raw) == expected
    assert ImageList.from_bytes(bytearray(raw)) == expected  # type: ignore[arg-type]
    assert ImageList.from_bytes(memoryview(raw)) == expected  # type: ignore[arg-type]
    assert ImageList.from_bytes(b"\r\n" + raw.replace(b", ", b", \r\n")) == expected


@pytest.mark.parametrize("data", ["{}", None, 1])
def test_from_bytes_not_bytes(data: Any) -> None:
    with pytest.raises(DocumentError, match="must be bytes"):
        ImageList.from_bytes(data)


def test_from_bytes_non_ascii() -> None:
    doc = wrap(list_body(**{"dc:title": "Ümläut ☃ \u2028 𝄞"}))
    raw = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    il = ImageList.from_bytes(raw)
    assert il.title == "Ümläut ☃ \u2028 𝄞"
    out = il.to_json_bytes()
    assert "Ümläut ☃".encode() in out
    assert ImageList.from_bytes(out) == il


def test_from_bytes_50_megabytes() -> None:
    big = "a" * 50_000_000
    raw = encode(wrap(list_body(**{"x:big": big})))
    start = time.monotonic()
    il = ImageList.from_bytes(raw)
    assert time.monotonic() - start < 30
    assert il.unrecognized_fields["x:big"] == big
    broken = raw[:-1]
    start = time.monotonic()
    with pytest.raises(DocumentError, match="not valid JSON"):
        ImageList.from_bytes(broken)
    assert time.monotonic() - start < 30


# --- to_json_bytes --------------------------------------------------------------------------------


def test_to_json_bytes_format() -> None:
    il = ImageList.from_dict(wrap(list_body(**{"ad:vo": "vo"})))
    out = il.to_json_bytes()
    text = out.decode("utf-8")
    assert not text.endswith("\n")
    assert "\r" not in text
    assert ", \n" not in text  # no Python 2 trailing spaces
    assert text.startswith('{\n    "hv:imagelist": {\n        "ad:vo": "vo",\n')
    assert text == json.dumps(il.to_dict(), sort_keys=True, indent=4, ensure_ascii=False)
    two = il.to_json_bytes(indent=2).decode()
    assert two.startswith('{\n  "hv:imagelist": {\n')
    assert ImageList.from_bytes(two.encode()) == il


# --- identifiers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "488dcdc4-9ab1-4fc8-a7ba-b7a5428ecb3d",
        "FOOBAR_",
        "a",
        "A.b_c:d@e+f-g",
        "image.v1",
        "x" * 128,
    ],
)
def test_safe_identifiers(value: str) -> None:
    assert is_safe_identifier(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "..",
        "a..b",
        ".hidden",
        "-rf",
        "_x",
        "a/b",
        "/etc/passwd",
        "../x",
        "a\\b",
        "a\x00b",
        "a b",
        "a\nb",
        "a\t",
        "x\n",
        "a;b",
        "a|b",
        "a$b",
        "a`b`",
        "a&b",
        "a*b",
        "a?b",
        "a'b",
        'a"b',
        "a<b",
        "a(b)",
        "ä",
        "x" * 129,
        None,
        5,
    ],
)
def test_unsafe_identifiers(value: Any) -> None:
    assert not is_safe_identifier(value)


def test_unsafe_identifier_is_not_rejected_by_document() -> None:
    il = ImageList.from_dict(wrap(list_body([{"hv:image": image_dict("../../etc/passwd")}])))
    assert il.images[0].identifier == "../../etc/passwd"
    assert not is_safe_identifier(il.images[0].identifier)


# --- messages -------------------------------------------------------------------------------------


def test_messages_of_hostile_values_stay_one_line() -> None:
    hostile = "line1\nline2\r\x1b[31m" + "y" * 1000
    images = [{"hv:image": image_dict(hostile, **{"hv:size": hostile})}]
    il = ImageList.from_dict(wrap(list_body(images, **{hostile: 1})))
    for warning in il.warnings:
        assert "\n" not in warning
        assert "\r" not in warning
        assert "\x1b" not in warning
        assert len(warning) < 400
    with pytest.raises(DocumentError) as excinfo:
        ImageList.from_dict(wrap(list_body(**{"dc:date:expires": hostile})))
    assert "\x1b" not in assert_one_line_error(excinfo)
    with pytest.raises(DocumentError) as excinfo:
        Image.from_dict(image_dict(**{"hv:size": -(10**5000)}))
    assert_one_line_error(excinfo)


# --- interop samples ------------------------------------------------------------------------------


def _wrapped(obj: dict[str, Any]) -> dict[str, Any]:
    return obj if "hv:imagelist" in obj else wrap(obj)


@pytest.mark.parametrize("name", UNSIGNED_SAMPLES)
def test_interop_unsigned_round_trip(name: str) -> None:
    raw = (INTEROP / name).read_bytes()
    obj = json.loads(raw)
    il = ImageList.from_dict(obj)
    assert il.warnings == ()
    assert il.dropped_images == ()
    assert il.to_dict() == _wrapped(obj)
    assert ImageList.from_bytes(raw) == il
    again = ImageList.from_bytes(il.to_json_bytes())
    assert again == il
    assert again.to_dict() == il.to_dict()


def test_interop_hepixvmitrust_sample() -> None:
    il = ImageList.from_bytes((INTEROP / "hepixvmitrust/imagelist.json").read_bytes())
    assert il.images[0].size == 2147483648
    assert il.images[0].to_dict()["hv:size"] == 2147483648
    assert il.endorser.dn == "/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge"
    assert il.expires == datetime(2011, 4, 7, 17, 9, 12, tzinfo=UTC)


def test_interop_snf_sample() -> None:
    il = ImageList.from_bytes((INTEROP / "snf-vmcatcher/ImageListConfigTest.json").read_bytes())
    (image,) = il.images
    assert image.sha512 == "CHECKSUM"
    assert not image.has_valid_sha512
    assert image.size == 121243136
    assert image.to_dict()["hv:size"] == "121243136"
    assert image.format == "OVA"
    assert il.endorser.dn == ""
    assert il.unrecognized_fields == {"ad:swid": "810"}
    assert il.version == "3.3.0"


def _signed_json(path: Path) -> bytes:
    """The first MIME part of a multipart/signed file (no S/MIME processing; test use only)."""
    text = path.read_bytes().decode("utf-8")
    match = re.search(r'boundary="([^"]+)"', text)
    assert match is not None
    part = text.split("--" + match.group(1))[1]
    return part.strip().encode("utf-8")


SIGNED = sorted(
    str(p.relative_to(INTEROP))
    for pattern in ("cloudkeeper/*/*.signed", "hepixvmitrust/*.smime")
    for p in INTEROP.glob(pattern)
)


@pytest.mark.parametrize("name", SIGNED or ["<none>"])
def test_interop_signed_content_parses(name: str) -> None:
    if name == "<none>":
        pytest.skip("no signed samples found")
    il = ImageList.from_bytes(_signed_json(INTEROP / name))
    assert il.warnings == ()
    assert il.endorsers
    assert ImageList.from_bytes(il.to_json_bytes()) == il


@pytest.mark.parametrize("name", [n for n in SIGNED if n.startswith("cloudkeeper/")] or ["<none>"])
def test_interop_cloudkeeper_appdb_shape(name: str) -> None:
    if name == "<none>":
        pytest.skip("no cloudkeeper samples found")
    il = ImageList.from_bytes(_signed_json(INTEROP / name))
    assert il.vo is not None
    assert il.vo.endswith(".vo.net")
    assert il.expires == datetime(2499, 12, 31, 22, 0, 0, tzinfo=UTC)
    assert il.images
    for image in il.images:
        assert isinstance(image.to_dict()["hv:size"], str)
        assert image.format == "OVA"
        assert image.mpuri is not None
        assert "ad:user:guid" in image.unrecognized_fields
        if name.startswith("cloudkeeper/head/"):
            assert image.unrecognized_fields["dc:date:expires"] == "2499-12-31T22:00:00Z"


def test_interop_head_signed_01_matches_unsigned() -> None:
    signed = ImageList.from_bytes(_signed_json(INTEROP / "cloudkeeper/head/imagelist01.signed"))
    unsigned = ImageList.from_bytes(
        (INTEROP / "cloudkeeper/head/imagelist01.unsigned").read_bytes()
    )
    assert signed == unsigned


# --- fuzzing --------------------------------------------------------------------------------------

ALL_KEYS = sorted(
    {
        *REQUIRED_LIST_KEYS,
        *REQUIRED_ENDORSER_KEYS,
        *REQUIRED_IMAGE_KEYS,
        "hv:imagelist",
        "hv:x509",
        "hv:image",
        "ad:vo",
        "hv:format",
    }
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["2011-03-10T17:09:12Z", "121243136", SHA, "-1", ""])
)
json_keys = st.sampled_from(ALL_KEYS) | st.text(max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=6)
    ),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(DocumentError):
        ImageList.from_bytes(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fuzz_json_structures(value: Any) -> None:
    for candidate in (value, {"hv:imagelist": value}):
        with contextlib.suppress(DocumentError):
            ImageList.from_bytes(json.dumps(candidate).encode())
        with contextlib.suppress(DocumentError):
            ImageList.from_dict(candidate)


LEVELS = ("list", "endorser", "image")


def _mutation_target(body: dict[str, Any], level: str) -> dict[str, Any]:
    """The object a fuzz mutation edits: the list, its endorser or its first image."""
    if level == "endorser":
        wrapper = body.get("hv:endorser")
        if isinstance(wrapper, dict) and isinstance(wrapper.get("hv:x509"), dict):
            inner: dict[str, Any] = wrapper["hv:x509"]
            return inner
    if level == "image":
        images = body.get("hv:images")
        if isinstance(images, list) and images and isinstance(images[0], dict):
            image = images[0].get("hv:image")
            if isinstance(image, dict):
                return image
    return body


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(LEVELS), st.sampled_from(ALL_KEYS), st.booleans(), json_values),
        max_size=4,
    ),
    st.booleans(),
)
def test_fuzz_mutated_valid_list(mutations: list[tuple[str, str, bool, Any]], unwrap: bool) -> None:
    body = list_body([{"hv:image": image_dict("a")}, {"hv:image": image_dict("b")}])
    for level, key, delete, value in mutations:
        target = _mutation_target(body, level)
        if delete:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
    doc = body if unwrap else wrap(body)
    try:
        raw = json.dumps(doc).encode()
        il = ImageList.from_bytes(raw)
    except DocumentError:
        return
    assert len(il.images) + len(il.dropped_images) == len(body["hv:images"])
    again = ImageList.from_bytes(il.to_json_bytes())
    assert again == il
    assert again.to_dict() == il.to_dict()
