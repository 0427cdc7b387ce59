"""``imagelist oci describe -o FILE`` never writes through a link planted under FILE.

A dangling symbolic link at ``FILE`` (``saved.qcow2`` -> a file elsewhere that does not exist
yet) must be refused with exit 1 and one line, before anything is read from the registry: the
link's target is not created and the link is left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelist.cli import imagelist_tool
from tests.oci.conftest import disk, registry  # noqa: F401 - fixtures
from tests.oci.registry import TestRegistry, push_image

REPO = "egi_vm_images/ubuntu"


def test_a_planted_link_at_the_output_is_refused(
    capsys: pytest.CaptureFixture[str],
    registry: TestRegistry,  # noqa: F811
    disk: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    pushed = push_image(registry.client(), REPO, disk)
    elsewhere = tmp_path / "elsewhere" / "victim"
    elsewhere.parent.mkdir()
    saved = tmp_path / "out" / "saved.qcow2"
    saved.parent.mkdir()
    saved.symlink_to(elsewhere)
    code = imagelist_tool.main(["oci", "describe", "--plain-http", "-o", str(saved), pushed.uri])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert str(saved) in lines[0]
    assert not elsewhere.exists()
    assert saved.is_symlink()
    assert Path(saved.readlink()) == elsewhere
    assert [p.name for p in saved.parent.iterdir()] == ["saved.qcow2"]
