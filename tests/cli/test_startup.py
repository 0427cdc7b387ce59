"""``--help`` of a console script imports none of the heavy libraries only an action needs
(SQLAlchemy, requests, openstacksdk, pyone, the market's web stack, pysequoia, cryptography):
start-up stays cheap (ADRs 0023, 0029)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SCRIPTS = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())[
    "project"
]["scripts"]
#: What only an action needs: SQL, HTTP, the clouds, the market's web stack, OpenPGP and X.509.
HEAVY = {
    "sqlalchemy",
    "requests",
    "openstack",
    "pyone",
    "fastapi",
    "uvicorn",
    "starlette",
    "pydantic",
    "jinja2",
    "pysequoia",
    "cryptography",
}


def imported_by_help(script: str) -> set[str]:
    """The top-level packages ``python -X importtime SCRIPT --help`` imports (the installed
    console script, next to the interpreter)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(Path(sys.executable).parent / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "imagelist" in names  # the -X importtime report was read
    return names


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help_imports_no_heavy_library(name: str) -> None:
    assert imported_by_help(name) & HEAVY == set()
