"""`make demo` runs this module: it must tell the whole story and exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelist import demo


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3. verified: signer /DC=org/O=Demo VO/CN=Demo Endorser" in out
    assert "4. tampered copy refused (exit 11)" in out
    assert "5. list signed by an unknown CA refused (exit 11)" in out
    assert "2. vmcaster published version 0.0.1" in out
    assert "dfc470ab-0845-4c3b-bc6a-02f990388a17\t0\tupdated" in out
    assert "state 2 (" in out
    assert "event ProcessPrefix" in out
    assert "event AvailablePostfix" in out
    assert "event ProcessPostfix" in out
    assert "cached " in out
    published = tmp_path / "publisher" / "www" / "image.list"
    assert published.read_bytes().startswith(b"MIME-Version: 1.0")


def test_demo_in_a_temporary_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main([]) == 0
    assert "demo finished" in capsys.readouterr().out
