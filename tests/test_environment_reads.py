"""Only the applications read the process environment (ADR 0028), checked with ``ast``.

A command resolves its settings once, from options, environment, the site configuration file
and defaults, and passes them down: no module below it reads ``os.environ`` (or
``os.environb``, ``os.getenv``, ``os.getenvb``, ``posix.environ``) itself. The modules that
may are the applications layer of ADR 0024 (``tests/test_layering.py``): the command lines
(``imagelist.cli``), the demo, the site configuration file and its report, plus one entry
point: ``imagelist.market.worker``, the application of an ``imagelist-market serve`` worker,
which uvicorn starts in a process of its own so that its settings can only arrive through the
environment (it reads them once and passes them down like a command).

Every read counts: an attribute (``os.environ.get``), a call (``os.getenv``), a name imported
from ``os`` or ``posix`` (``from os import environ``), an alias (``import os as o``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_layering import APPLICATIONS, PACKAGE, _module_name, _within

#: The applications, and the one entry point outside ``cli`` whose settings come by environment.
ALLOWED = (*APPLICATIONS, "imagelist.market.worker")
#: What reads the process environment, per module.
READERS = {
    "os": frozenset({"environ", "environb", "getenv", "getenvb"}),
    "posix": frozenset({"environ"}),
}


def environment_reads(source: str) -> list[int]:
    """The lines of ``source`` that read the process environment."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> "os" / "posix"
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in READERS:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in READERS and not node.level:
            lines.extend(node.lineno for alias in node.names if alias.name in READERS[node.module])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr in READERS[aliases[node.value.id]]
        ):
            lines.append(node.lineno)
    return sorted(lines)


def _violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if _within(module, ALLOWED):
            continue
        found.extend(
            f"{module}:{line}" for line in environment_reads(path.read_text(encoding="utf-8"))
        )
    return found


def test_no_library_module_reads_the_environment() -> None:
    assert _violations() == []


def test_the_allowed_modules_exist_and_the_check_sees_their_reads() -> None:
    """The check is not vacuous: the applications it exempts do read the environment."""
    for module in ("imagelist.cli._settings", "imagelist.market.worker"):
        path = PACKAGE.parent / (module.replace(".", "/") + ".py")
        assert environment_reads(path.read_text(encoding="utf-8")), module


@pytest.mark.parametrize(
    "source",
    [
        "import os\nvalue = os.environ.get('HOME')\n",
        "import os\nvalue = os.environ['HOME']\n",
        "import os\nvalue = os.getenv('HOME')\n",
        "import os\nvalue = os.environb[b'HOME']\n",
        "import os as system\nvalue = system.environ\n",
        "from os import environ\nvalue = environ['HOME']\n",
        "from os import getenv as g\nvalue = g('HOME')\n",
        "import posix\nvalue = posix.environ\n",
        "def f(env=None):\n    import os\n    return os.environ if env is None else env\n",
    ],
)
def test_the_checker_finds_a_planted_read(source: str) -> None:
    assert environment_reads(source)


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.posix_fadvise\n",
        "def f(environ):\n    return environ.get('HOME')\n",
        "from collections.abc import Mapping\nenviron: Mapping[str, str] = {}\n",
        "import os\nos.path.join('a', 'environ')\n",
    ],
)
def test_the_checker_leaves_explicit_mappings_alone(source: str) -> None:
    assert environment_reads(source) == []


def test_a_planted_violation_in_a_library_module_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the package with one library module reading ``os.environ`` is refused."""
    package = tmp_path / "imagelist"
    (package / "cache").mkdir(parents=True)
    (package / "cli").mkdir()
    (package / "__init__.py").write_text("")
    (package / "cache" / "__init__.py").write_text("")
    (package / "cache" / "planted.py").write_text(
        "import os\n\n\ndef where(environ=None):\n"
        "    return (os.environ if environ is None else environ).get('X')\n"
    )
    (package / "cli" / "__init__.py").write_text("import os\nos.environ.get('X')\n")
    monkeypatch.setattr("tests.test_environment_reads.PACKAGE", package)
    monkeypatch.setattr("tests.test_layering.SRC", tmp_path)
    assert _violations() == ["imagelist.cache.planted:5"]
