"""Everything the code and the docs cite resolves inside the repository.

* ``reference §N.M`` and defects ``Dn`` (in src/, tests/, bench/, docs/ and README.md) name an
  anchor of docs/reference.md (``#sN-M``, ``#dn``);
* every Markdown link to a file of the repository (with its ``#anchor``, if any) resolves;
* the interoperability samples are in tests/data/interop, complete and unaltered (a missing or
  changed file fails here; nothing skips);
* no relative path (``../…``) in a source or doc names a directory beside the repository
  (a user's clone has none; hostile-path examples such as ``../../etc`` are not such paths).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
INTEROP = ROOT / "tests" / "data" / "interop"

#: ``reference §2.6, §2.7, §5 D12–D14`` or ``reference §1.1-§1.3``: the citation and what follows.
CITATION = re.compile(r"reference (§[0-9][0-9.§ ,/–-]*)")
SECTION = re.compile(r"§([0-9]+(?:\.[0-9]+)*)")
DEFECT = re.compile(r"\bD([0-9]{1,2})\b")
DEFECT_RANGE = re.compile(r"\bD([0-9]{1,2})\s*[–-]\s*D([0-9]{1,2})\b")
LINK = re.compile(r"\]\(([^)\s]+)\)")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')


def _sources() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for folder in ("src", "tests", "bench"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [path for path in files if ".venv" not in path.parts]


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    explicit = set(ANCHOR.findall(text))
    headings = set()
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            headings.add(slug)
    return explicit | headings


def _cited_sections(text: str) -> set[str]:
    return {number for group in CITATION.findall(text) for number in SECTION.findall(group)}


def _cited_defects(text: str) -> set[int]:
    numbers = {int(n) for n in DEFECT.findall(text)}
    for low, high in DEFECT_RANGE.findall(text):
        numbers.update(range(int(low), int(high) + 1))
    return numbers


def test_the_citation_patterns_read_what_the_code_writes() -> None:
    text = "see reference §2.6, §2.7, §5 D12–D14 and (reference §1.1-§1.3); D4-D6"
    assert _cited_sections(text) == {"2.6", "2.7", "5", "1.1", "1.3"}
    assert _cited_defects(text) == {12, 13, 14, 4, 5, 6}


def test_every_reference_section_and_defect_cited_has_an_anchor() -> None:
    anchors = _anchors(REFERENCE)
    missing = []
    cited_sections = 0
    for path in _sources():
        if path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8")
        for number in _cited_sections(text):
            cited_sections += 1
            if "s" + number.replace(".", "-") not in anchors:
                missing.append(f"{path.relative_to(ROOT)}: §{number}")
        for number in _cited_defects(text):
            if f"d{number}" not in anchors:
                missing.append(f"{path.relative_to(ROOT)}: D{number}")
    assert cited_sections > 40  # the code does cite the reference
    assert missing == []


def test_every_defect_d1_to_d22_is_described() -> None:
    anchors = _anchors(REFERENCE)
    assert {f"d{n}" for n in range(1, 23)} <= anchors


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))])
def test_markdown_links_inside_the_repository_resolve(path: Path) -> None:
    broken = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("<"):
            continue  # https:, mailto:, ...
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        outside = ROOT not in destination.parents and destination != ROOT
        unknown_anchor = (
            destination.exists()
            and bool(anchor)
            and destination.suffix == ".md"
            and anchor not in _anchors(destination)
        )
        if outside or not destination.exists() or unknown_anchor:
            broken.append(target)
    assert broken == []


_RELATIVE_PATH = re.compile(r"(?<![\w./])((?:\.\./)+[\w.-]+)")


#: Names the docs and tests use in examples of hostile paths (an image id ``../../x``): not a
#: place anything reads, whatever happens to stand beside the checkout under that name.
_EXAMPLE_NAMES = frozenset({"x"})


def test_nothing_points_outside_the_repository() -> None:
    offenders = []
    for path in _sources():
        for relative in _RELATIVE_PATH.findall(path.read_text(encoding="utf-8")):
            if relative.rsplit("/", 1)[-1] in _EXAMPLE_NAMES:
                continue
            # read from the file's folder (a link) or from the checkout (code run in it)
            for base in (path.parent, ROOT):
                target = (base / relative).resolve()
                if target.parent == ROOT.parent and target != ROOT and target.is_dir():
                    offenders.append(f"{path.relative_to(ROOT)}: {relative}")
                    break
    assert offenders == []


def test_interop_samples_are_complete_and_unaltered() -> None:
    listed: dict[str, str] = {}
    for line in (INTEROP / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.removeprefix("./")] = digest
    present = {
        str(path.relative_to(INTEROP))
        for path in INTEROP.rglob("*")
        if path.is_file() and path.name not in {"SHA256SUMS", "PROVENANCE.md"}
    }
    assert set(listed) == present
    for name, digest in listed.items():
        assert hashlib.sha256((INTEROP / name).read_bytes()).hexdigest() == digest, name
