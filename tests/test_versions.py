"""Tests for imagelist.versions: the version order (reference §2.4.3) and bumping (§3.6)."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagelist.versions import bump_version, compare_versions, next_version

# (lower, higher): every example of reference §2.4.3, plus cases for each rule it states.
ORDERED = [
    ("0.0.9", "0.0.10"),
    ("1.9", "1.10"),
    ("3.3.0-1", "3.3.0-2"),
    ("1.0", "1.0.1"),
    ("2013-12-31", "2014-01-01"),
    ("1a", "1b"),
    ("1a", "1"),  # quirk: a digit token beats a non-digit token
    ("v2", "v10"),
    ("a", "1"),  # digit token beats non-digit token
    ("1a", "2"),
    ("rc1", "rc2"),
    ("1.0-rc1", "1.0-rc10"),
    ("1a9", "1a10"),  # digit runs inside a non-digit token compare as integers
    ("a1", "1a"),  # ...and a digit run beats a non-digit run
    ("1ab", "1ab1"),
    ("a", "b"),
    ("a", "ab"),  # non-digit runs compare as strings
    ("x1", "x1y"),  # more runs is greater
    ("", "0"),
    ("1-0", "1.0"),  # separators are tokens and compare as strings: "-" < "."
    ("1,0", "1.0"),
    ("1.0", "1/0"),
    ("20150618211400", "20150618211401"),
    ("9" * 50, "1" + "0" * 50),  # long digit runs, no int() limits
    ("1.2.3", "1.2.3.0"),
]

EQUAL = [
    ("1.0", "1.0"),
    ("", ""),
    ("01", "1"),  # integers: leading zeros do not matter
    ("1.01", "1.1"),
    ("a01", "a1"),
    ("0" * 5000, "0"),
]


@pytest.mark.parametrize(("lower", "higher"), ORDERED)
def test_compare_ordered(lower: str, higher: str) -> None:
    assert compare_versions(lower, higher) == 1
    assert compare_versions(higher, lower) == -1


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_compare_equal(a: str, b: str) -> None:
    assert compare_versions(a, b) == 0
    assert compare_versions(b, a) == 0


@pytest.mark.parametrize("version", sorted({v for pair in ORDERED + EQUAL for v in pair}))
def test_compare_reflexive_examples(version: str) -> None:
    assert compare_versions(version, version) == 0


def test_equal_integers_continue_with_next_token() -> None:
    # Deliberate: vmcatcher returned 0 as soon as two digit tokens were equal as integers but
    # differed as text ("01" vs "1"); we go on comparing the following tokens.
    assert compare_versions("1.01.5", "1.1.9") == 1
    assert compare_versions("a01b", "a1c") == 1


def test_non_ascii_digits_are_not_digits() -> None:
    # "²" and Arabic-Indic digits are non-digit text: a real digit token beats them.
    assert compare_versions("\u0661", "1") == 1
    assert compare_versions("²", "0") == 1


def test_sorting_with_compare() -> None:
    versions = ["1.10", "1.9", "1", "1a", "0.0.10", "0.0.9", "v10", "v2"]

    def ascending(a: str, b: str) -> int:
        return compare_versions(b, a)

    key = functools.cmp_to_key(ascending)
    # A non-digit first token ("v2", "1a") sorts below any digit first token, even "0".
    assert sorted(versions, key=key) == ["v2", "v10", "1a", "0.0.9", "0.0.10", "1", "1.9", "1.10"]


version_text = st.text(alphabet="0123456789.-,/abvrc", max_size=20) | st.text(max_size=12)


@given(version_text, version_text)
def test_compare_antisymmetric(a: str, b: str) -> None:
    assert compare_versions(a, b) == -compare_versions(b, a)
    assert compare_versions(a, b) in (-1, 0, 1)


@given(version_text)
def test_compare_reflexive(a: str) -> None:
    assert compare_versions(a, a) == 0


@given(version_text, version_text, version_text)
def test_compare_transitive(a: str, b: str, c: str) -> None:
    # compare(x, y) == 1 means y > x.
    if compare_versions(a, b) >= 0 and compare_versions(b, c) >= 0:
        assert compare_versions(a, c) >= 0


# --- bump ---------------------------------------------------------------------------------------

BUMPS = [
    ("0.0.9", "0.0.10"),  # the §3.6 examples
    ("3.3.0-1", "3.3.0-2"),
    ("1.2a", "1.3a"),
    ("20150618211400", "20150618211401"),
    ("0.0.0", "0.0.1"),
    ("0", "1"),
    ("9", "10"),
    ("1.99", "1.100"),
    ("v2-beta", "v3-beta"),
    # Leading zeros: the run keeps its width (vmcaster gave "10" for "009").
    ("009", "010"),
    ("099", "100"),
    ("1.007", "1.008"),
    ("999", "1000"),
    ("9" * 5000, "1" + "0" * 5000),
]


@pytest.mark.parametrize(("version", "bumped"), BUMPS)
def test_bump_version(version: str, bumped: str) -> None:
    assert bump_version(version) == bumped
    assert compare_versions(version, bumped) == 1


@pytest.mark.parametrize("version", ["", "abc", "v.-", "\u0661"])
def test_bump_version_without_digits(version: str) -> None:
    assert bump_version(version) is None


@given(st.text(max_size=20).filter(lambda v: any(ch in "0123456789" for ch in v)))
def test_bump_is_greater(version: str) -> None:
    bumped = bump_version(version)
    assert bumped is not None
    assert compare_versions(version, bumped) == 1


@pytest.mark.parametrize(
    ("stored", "default", "expected"),
    [
        (None, "0.0.0", "0.0.1"),
        ("", "0.0.0", "0.0.1"),
        ("0.0.9", "0.0.0", "0.0.10"),
        ("1.2a", "0.0.0", "1.3a"),
        ("abc", "0.0.0", "0.0.1"),  # bump fails
        (None, "2.0", "2.1"),
        (None, "none", "0.0.1"),
    ],
)
def test_next_version(stored: str | None, default: str, expected: str) -> None:
    assert next_version(stored, default) == expected


def test_next_version_default_argument() -> None:
    assert next_version(None) == "0.0.1"
    assert next_version("41") == "42"
