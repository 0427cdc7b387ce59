"""Every console script declared in pyproject.toml imports and answers with one line."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

SCRIPTS = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())[
    "project"
]["scripts"]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_entry_point_resolves(name: str) -> None:
    module, _, function = SCRIPTS[name].partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def _placeholder(name: str) -> bool:
    module = importlib.import_module(SCRIPTS[name].partition(":")[0])
    return "not part of this release" in (module.__doc__ or "")


@pytest.mark.parametrize("name", [n for n in sorted(SCRIPTS) if _placeholder(n)])
def test_not_yet_available_commands_say_so(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module, _, function = SCRIPTS[name].partition(":")
    main = getattr(importlib.import_module(module), function)
    assert main([]) == 1
    assert capsys.readouterr().err.strip() == f"{name}: not available in imagelist 0.1 yet"
