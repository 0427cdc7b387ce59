"""The fast paths of imagelist.document agree with the general ones, on generated input.

* the image fast path (``Image._parse_common``: checked at once, built lazily) against the
  general parser (``Image._parse_general``), on generated ``hv:image`` mappings;
* the whole-array fast path (``Image._parse_all_common``: every element checked in one pass)
  against the element loop (``model._read_each_image``), on generated ``hv:images`` arrays;
* ``ImageList.from_bytes`` (orjson, with its fallbacks) against the reference decoder
  (``guards.decode``, the standard library with hooks), on generated documents with awkward
  numbers, nesting and strings: the same list, or the same one-line error.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import pickle
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagelist.document import MAX_IMAGE_SIZE, REQUIRED_IMAGE_KEYS, Image, ImageList
from imagelist.document.guards import decode
from imagelist.document.model import _read_each_image, _UnsureNumberError
from imagelist.errors import DocumentError

TEXT_KEYS = [key for key in REQUIRED_IMAGE_KEYS if key != "hv:size"]
HEX = "0123456789abcdefABCDEF"

texts = st.text(max_size=12)
sha512s = st.one_of(
    st.text(alphabet=HEX, min_size=128, max_size=128),
    st.text(alphabet=HEX, min_size=0, max_size=130),
    texts,
)
sizes = st.one_of(
    st.integers(min_value=0, max_value=MAX_IMAGE_SIZE),
    st.integers(min_value=-5, max_value=2**66),
    st.integers(min_value=0, max_value=10**25).map(str),
    st.sampled_from(["", "12a", "٣", "-1", "0", "007", " 1", "1.5"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
scalars = st.one_of(texts, st.integers(-(2**64), 2**64), st.booleans(), st.none(), st.floats())
extra_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)
)


@st.composite
def image_mappings(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {key: draw(texts) for key in TEXT_KEYS}
    data["sl:checksum:sha512"] = draw(sha512s)
    data["hv:size"] = draw(sizes)
    for key in draw(st.lists(st.sampled_from(REQUIRED_IMAGE_KEYS), max_size=2)):
        if draw(st.booleans()):
            data.pop(key, None)  # a missing key
        else:
            data[key] = draw(scalars)  # a value of another type
    extras = draw(st.dictionaries(st.sampled_from(["hv:format", "ad:mpuri", "x:y"]), extra_values))
    data.update(extras)
    return data


def _state(image: Image) -> dict[str, Any]:
    """Every attribute, the private ones included (how the image will be written back)."""
    return {f.name: getattr(image, f.name) for f in dataclasses.fields(image)}


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(image_mappings())
def test_fast_and_general_image_parsers_agree(data: dict[str, Any]) -> None:
    fast = Image._parse_common(copy.deepcopy(data))
    if fast is None:
        return  # the fast path declined: the general parser decides alone
    general = Image._parse_general(copy.deepcopy(data))
    assert isinstance(general, Image)
    assert fast == general
    assert _state(fast) == _state(general)
    assert fast.to_dict() == general.to_dict()
    assert hash(fast) == hash(general)


def test_a_lazy_image_copies_pickles_and_replaces_like_an_eager_one() -> None:
    data = {key: f"v-{key}" for key in TEXT_KEYS}
    data["sl:checksum:sha512"] = "AB" * 64
    data["hv:size"] = "42"
    data["hv:format"] = "QCOW2"
    eager = Image._parse_general(copy.deepcopy(data))
    assert isinstance(eager, Image)

    def one(data: dict[str, Any]) -> Image | None:
        images = Image._parse_all_common([{"hv:image": data}])
        return None if images is None else images[0]

    for build, make in itertools.product(
        (Image._parse_common, one),  # one image, or an image of a whole array
        (
            copy.copy,
            copy.deepcopy,
            lambda image: pickle.loads(pickle.dumps(image)),
            lambda image: dataclasses.replace(image, title=image.title),
        ),
    ):
        lazy = build(copy.deepcopy(data))
        assert lazy is not None
        twin = make(lazy)
        assert twin == eager
        assert _state(twin) == _state(eager)
        assert twin.sha512 == "ab" * 64
        assert twin.size == 42
        assert twin.to_dict()["hv:size"] == "42"


def test_lazy_images_read_by_many_threads_at_once_read_alike() -> None:
    """Threads that fill the same lazy images at once all read every field (none gets an
    AttributeError from the other's filling), and the fields are the eager parser's."""
    elements = []
    for index in range(300):
        data = {key: f"v-{key}-{index}" for key in TEXT_KEYS}
        data["hv:size"] = index
        data["hv:format"] = "QCOW2"
        elements.append({"hv:image": data})
    eager = [Image._parse_general(copy.deepcopy(element["hv:image"])) for element in elements]
    names = [field.name for field in dataclasses.fields(Image)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for _ in range(5):
            lazy = Image._parse_all_common(copy.deepcopy(elements))
            assert lazy is not None
            start = threading.Barrier(6)

            def read(
                offset: int, lazy: tuple[Image, ...] = lazy, start: threading.Barrier = start
            ) -> list[dict[str, Any]]:
                start.wait()
                order = names[offset:] + names[:offset]
                return [{name: getattr(image, name) for name in order} for image in lazy]

            with ThreadPoolExecutor(6) as pool:
                results = list(pool.map(read, range(6)))
            for result in results:
                assert result == [_state(image) for image in eager]
    finally:
        sys.setswitchinterval(interval)


usual_sizes = st.one_of(
    st.integers(min_value=0, max_value=MAX_IMAGE_SIZE),
    st.integers(min_value=0, max_value=MAX_IMAGE_SIZE).map(str),
)


@st.composite
def image_arrays(draw: st.DrawFn) -> list[Any]:
    """``hv:images`` arrays of usual images, each possibly with one twist (a value of another
    type, a size out of range, a repeated identifier, an odd wrapper or element), so that the
    fast path takes about half of them and each of its checks is needed."""
    elements: list[Any] = []
    for index in range(draw(st.integers(0, 4))):
        image: dict[str, Any] = {key: f"{key}-{index}" for key in TEXT_KEYS}
        image["dc:identifier"] = f"id-{index}"
        image["hv:size"] = draw(usual_sizes)
        image.update(draw(st.dictionaries(st.sampled_from(["hv:format", "x:y"]), texts)))
        element: Any = {"hv:image": image}
        twist = draw(st.sampled_from(["none"] * 8 + ["value", "size", "id", "wrapper", "odd"]))
        if twist == "value":  # a text key, the size or an extra key of another type
            image[draw(st.sampled_from([*REQUIRED_IMAGE_KEYS, "x:y"]))] = draw(extra_values)
        elif twist == "size":
            image["hv:size"] = draw(sizes)
        elif twist == "id":
            image["dc:identifier"] = f"id-{draw(st.integers(0, 3))}"
        elif twist == "wrapper":
            element[draw(texts)] = draw(scalars)
        elif twist == "odd":
            element = draw(st.one_of(scalars, st.just({}), st.just({"hv:image": []})))
        elements.append(element)
    return elements


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(image_arrays())
def test_whole_array_and_element_loop_agree(elements: list[Any]) -> None:
    every = Image._parse_all_common(copy.deepcopy(elements))
    warnings: list[str] = []
    try:
        # as from_bytes reads them: an orjson number the loop is unsure of ends the fast read
        loop: Any = _read_each_image(copy.deepcopy(elements), warnings, orjson_numbers=True)
    except (DocumentError, _UnsureNumberError) as exc:
        loop = (type(exc).__name__, str(exc))
    if every is None:
        return  # the fast path declined: the loop decides alone
    assert loop[0] == every
    assert not loop[1]
    assert not warnings
    assert [_state(image) for image in every] == [_state(image) for image in loop[0]]
    assert [image.to_dict() for image in every] == [image.to_dict() for image in loop[0]]
    assert [hash(image) for image in every] == [hash(image) for image in loop[0]]


def test_the_whole_array_path_takes_usual_lists_and_declines_the_rest() -> None:
    usual = {key: f"v-{key}" for key in TEXT_KEYS}
    images = [
        {"hv:image": {**usual, "dc:identifier": f"id-{n}", "hv:size": size}}
        for n, size in enumerate([1, "2", MAX_IMAGE_SIZE])
    ]
    taken = Image._parse_all_common(images)
    assert taken is not None
    assert [image.size for image in taken] == [1, 2, MAX_IMAGE_SIZE]
    repeated = [images[0], images[0]]
    beyond = [{"hv:image": {**usual, "hv:size": MAX_IMAGE_SIZE + 1}}]
    a_number = [{"hv:image": {**usual, "dc:title": 7, "hv:size": 1}}]
    missing = [{"hv:image": {k: v for k, v in usual.items() if k != "sl:os"} | {"hv:size": 1}}]
    digits = [{"hv:image": {**usual, "hv:size": "9" * 5000}}]  # beyond int()'s limit
    arabic_three = [{"hv:image": {**usual, "hv:size": "\u0663"}}]  # a digit, but not ASCII
    superscript_two = [{"hv:image": {**usual, "hv:size": "\u00b2"}}]  # int() refuses it
    keys_only = [{"hv:image": list(REQUIRED_IMAGE_KEYS)}]  # all the keys, but not an object
    for declined in (
        repeated,
        beyond,
        a_number,
        missing,
        digits,
        arabic_three,
        superscript_two,
        keys_only,
        [*images, {}],
        [*images, 1],
    ):
        assert Image._parse_all_common(declined) is None


# --- from_bytes (orjson and its fallbacks) against the reference decoder -----------------------

numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**70), 2**70),
    st.integers(2**63 - 2, 2**64 + 2),  # orjson reads these as an int beyond 64 bits or a float
    st.integers(-(2**63) - 2, -(2**63) + 2),
    st.floats(allow_nan=False, allow_infinity=False),
)
awkward = st.recursive(
    st.one_of(texts, numbers, st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    images = []
    for _ in range(draw(st.integers(0, 3))):
        image: dict[str, Any] = {key: f"{key}-{len(images)}" for key in TEXT_KEYS}
        image["dc:identifier"] = f"id-{draw(st.integers(0, 3))}"
        image["hv:size"] = draw(st.one_of(sizes, numbers))
        if draw(st.booleans()):
            image["ad:extra"] = draw(awkward)
        images.append({"hv:image": image})
    body: dict[str, Any] = {
        "dc:identifier": "list",
        "dc:title": draw(st.one_of(texts, numbers)),
        "dc:description": "d",
        "dc:source": "s",
        "dc:date:created": "2026-01-01T00:00:00Z",
        "dc:date:expires": draw(st.sampled_from(["2027-01-01T00:00:00Z", "2027-02-30T00:00:00Z"])),
        "hv:version": "1",
        "hv:uri": "https://example.org/list",
        "hv:endorser": {
            "hv:x509": {"hv:dn": "/CN=a", "hv:ca": "/CN=b", "hv:email": "e", "dc:creator": "c"}
        },
        "hv:images": images,
    }
    if draw(st.booleans()):
        body["ad:extra"] = draw(awkward)
    for _ in range(draw(st.integers(0, 70)) if draw(st.booleans()) else 0):
        body = {"nest": [body]}  # too deep, possibly
    text = json.dumps({"hv:imagelist": body}, allow_nan=False)
    if draw(st.booleans()):
        text = text.replace('"ad:extra": ', '"ad:extra": 1e999, "x": ', 1)
    return text.encode()


def _outcome(read: Any, data: bytes) -> Any:
    try:
        imagelist = read(data)
    except DocumentError as exc:
        return ("error", str(exc), exc.exit_code)
    return (
        "list",
        imagelist,
        [_state(image) for image in imagelist.images],
        imagelist.dropped_images,
        imagelist.warnings,
        imagelist.unrecognized_fields,
        imagelist.to_json_bytes(),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_from_bytes_agrees_with_the_reference_decoder(data: bytes) -> None:
    reference = _outcome(lambda raw: ImageList._from_clean(decode(raw)), data)
    assert _outcome(ImageList.from_bytes, data) == reference
