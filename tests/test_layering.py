"""The import layers of imagelist (ADR 0024), checked statically over the source with ``ast``.

Layers, lowest first:

0. **pure**: the list format, versions, signatures and trust, the subscriber's decisions,
   hashing, URL strings, the error tree. No HTTP, no database, no command line.
1. **infrastructure**: HTTP (``fetch``, ``https``), the databases (``db``), the event plumbing.
2. **library**: the services the commands call (``cache``, ``publisher``, ``subscriber``,
   ``backends``, ``monitoring``, ...) and their renderers. A module not named below is here.
3. **applications**: the command lines (``cli``), the demo, and the site configuration file
   (it is parsed together with the options).

A module may import its own layer or a lower one, never a higher one; a pure module imports
only pure modules. Imports under ``if TYPE_CHECKING:`` are annotations and do not count.
Every import counts, also those inside functions (lazy imports are still dependencies).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "imagelist"

#: Layer 0 (prefixes: a package name covers its submodules).
PURE = (
    "imagelist._lazy",
    "imagelist.document",
    "imagelist.versions",
    "imagelist.verify",
    "imagelist.smime",
    "imagelist.smime_mime",
    "imagelist.signature_policy",
    "imagelist.trust",
    "imagelist.subscriber.decide",
    "imagelist.subscriber.decision",
    "imagelist.hashing",
    "imagelist.urls",
    "imagelist.fetch_limits",
    "imagelist.errors",
    "imagelist.errors_base",
    "imagelist.errors_tools",
    "imagelist.fileio",
    "imagelist.events.model",
)
INFRASTRUCTURE = (
    "imagelist.fetch",
    "imagelist.http_reasons",
    "imagelist.https",
    "imagelist.db",
    "imagelist.events",
)
APPLICATIONS = (
    "imagelist.cli",
    "imagelist.demo",
    "imagelist.site_config",
    "imagelist.site_report",
)
#: Third-party (and standard) modules of the upper layers: HTTP, SQL, command-line parsing.
HTTP = ("requests", "urllib3", "imagelist.fetch", "imagelist.http_reasons", "imagelist.https")
DATABASE = ("sqlalchemy", "alembic", "imagelist.db")
COMMAND_LINE = ("argparse", "imagelist.cli", "imagelist.site_config")
#: The only modules outside the applications that may parse a command line.
ARGPARSE_ALLOWED: tuple[str, ...] = ()

LAYER_NAMES = ("pure", "infrastructure", "library", "applications")


@dataclass(frozen=True)
class Import:
    """One ``import`` statement's target, as an absolute module (or module.name) path."""

    importer: str
    target: str
    line: int


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def layer(module: str) -> int:
    """The layer of a module of imagelist (2 when it is named nowhere)."""
    if module == "imagelist" or _within(module, PURE):
        return 0
    if _within(module, APPLICATIONS):
        return 3
    if _within(module, INFRASTRUCTURE):
        return 1
    return 2


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[Import]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit_one(other)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.append(Import(module, source, node.lineno))
            # "from . import x" and "from .pkg import module" name modules too
            found.extend(
                Import(module, f"{source}.{alias.name}", node.lineno) for alias in node.names
            )
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (SRC / relative).with_suffix(".py").is_file() or (
        SRC / relative / "__init__.py"
    ).is_file()


def _all_imports() -> list[Import]:
    return [found for path in sorted(PACKAGE.rglob("*.py")) for found in _imports(path)]


def _internal(found: Import) -> bool:
    return found.target.startswith("imagelist") and _is_module(found.target)


def _show(found: Import) -> str:
    return f"{found.importer}:{found.line} imports {found.target}"


IMPORTS = _all_imports()


def test_the_source_was_read() -> None:
    """The checks below look at real code: the known modules and edges are all there."""
    importers = {found.importer for found in IMPORTS}
    assert {"imagelist.cli.vmcaster", "imagelist.subscriber.decide", "imagelist.fetch"} <= importers
    assert Import("imagelist.fetch", "requests", 40) in IMPORTS or any(
        found.importer == "imagelist.fetch" and found.target == "requests" for found in IMPORTS
    )
    assert any(
        found.importer == "imagelist.cli.vmcaster" and found.target == "imagelist.publisher.actions"
        for found in IMPORTS
    )


@pytest.mark.parametrize(
    ("kind", "forbidden"),
    [("HTTP", HTTP), ("database", DATABASE), ("command-line", COMMAND_LINE)],
)
def test_pure_modules_import_no_http_database_or_command_line(
    kind: str, forbidden: tuple[str, ...]
) -> None:
    bad = [
        _show(found)
        for found in IMPORTS
        if layer(found.importer) == 0 and _within(found.target, forbidden)
    ]
    assert bad == [], f"pure modules import {kind} code"


def test_pure_modules_import_only_pure_modules() -> None:
    bad = [
        _show(found)
        for found in IMPORTS
        if layer(found.importer) == 0 and _internal(found) and layer(found.target) > 0
    ]
    assert bad == []


def test_no_layer_imports_a_higher_one() -> None:
    bad = [
        f"{_show(found)} ({LAYER_NAMES[layer(found.importer)]} -> "
        f"{LAYER_NAMES[layer(found.target)]})"
        for found in IMPORTS
        if _internal(found) and layer(found.target) > layer(found.importer)
    ]
    assert bad == []


def test_only_the_command_lines_parse_arguments() -> None:
    bad = [
        _show(found)
        for found in IMPORTS
        if found.target == "argparse"
        and layer(found.importer) < 3
        and found.importer not in ARGPARSE_ALLOWED
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("importer", "target", "expected"),
    [
        ("imagelist.subscriber.decide", "imagelist.fetch", False),
        ("imagelist.subscriber.decide", "imagelist.urls", True),
        ("imagelist.publisher.actions", "imagelist.cli._common", False),
        ("imagelist.cli.vmcaster", "imagelist.publisher.actions", True),
        ("imagelist.db.engine", "imagelist.cache.cache", False),
        ("imagelist.cache.cache", "imagelist.db.engine", True),
    ],
)
def test_the_layer_rule_itself(importer: str, target: str, expected: bool) -> None:
    """The rule the tests above apply, on edges whose answer is known."""
    assert (layer(target) <= layer(importer)) is expected
