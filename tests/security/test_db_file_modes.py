"""Attack surface: subscription passwords in a database file every local user can read (17.6).

``vmcatcher_subscribe -s https://user:password@host/list`` stores the Basic password in the
database; SQLite created that file with the umask's mode, 0644 under the usual umask 022, so
any local user could read it. Now SQLite database files (vmcatcher's and vmcaster's) are created
0600, or 0640 with ``IMAGELIST_DB_FILE_MODE=0640``; an invalid mode is exit 1 and creates
nothing; and the password appears in no output and no log, even at the highest verbosity.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.httpserver import HttpServer
from tests.pki import TestPki
from tests.subscriber.support import make_image, make_list, sign

USER, PASSWORD = "token", "Pw-0f-the-subscription"


def _run(module: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A tool as its own process, under the usual umask 022."""
    return subprocess.run(
        [sys.executable, "-m", f"imagelist.cli.{module}", *args],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(cwd), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def served(test_pki: TestPki) -> Iterator[str]:
    """A password-protected list; yields the subscription URL with the credentials."""
    with HttpServer() as server:
        imagelist = make_list(test_pki.good, uri=server.url("/l"), images=[make_image("a")])
        server.put("/l", sign(imagelist, test_pki.good), auth=(USER, PASSWORD))
        yield server.url("/l").replace("://", f"://{USER}:{PASSWORD}@")


def _subscribe(cwd: Path, test_pki: TestPki, url: str, **env: str) -> list[str]:
    """Register the endorser, subscribe, update, list and show; return all the output."""
    common = ["-d", "sqlite:///vmcatcher.db"]
    trust = ["-c", str(test_pki.trust_dir)]
    outputs: list[str] = []
    for module, args in (
        (
            "vmcatcher_endorser",
            [
                "--create",
                "-e",
                "e1",
                "--dn",
                test_pki.good.subject_oneline,
                "--issuer",
                test_pki.good.issuer_oneline,
            ],
        ),
        ("vmcatcher_subscribe", ["-s", url, *trust, "-v", "-v", "-v"]),
        ("vmcatcher_subscribe", ["-U", *trust, "-v", "-v", "-v"]),
        ("vmcatcher_subscribe", ["-l", *trust, "-v", "-v", "-v"]),
        ("vmcatcher_subscribe", ["-i", *trust, "-v", "-v", "-v"]),
    ):
        result = _run(module, *args, *common, cwd=cwd, **env)
        assert result.returncode == 0, (module, args, result.stderr)
        outputs += [result.stdout, result.stderr]
    return outputs


def test_subscriber_database_is_private(tmp_path: Path, test_pki: TestPki, served: str) -> None:
    outputs = _subscribe(tmp_path, test_pki, served)
    database = tmp_path / "vmcatcher.db"
    assert _mode(database) == 0o600
    for extra in (tmp_path / "vmcatcher.db-wal", tmp_path / "vmcatcher.db-shm"):
        if extra.exists():
            assert _mode(extra) == 0o600, extra
    assert any("password" in text for text in outputs), "the -i output shows a masked password"
    for text in outputs:
        assert PASSWORD not in text, text
    assert PASSWORD.encode() in database.read_bytes(), "the secret is kept (in the 0600 file)"


def test_group_readable_on_request(tmp_path: Path, test_pki: TestPki, served: str) -> None:
    _subscribe(tmp_path, test_pki, served, IMAGELIST_DB_FILE_MODE="0640")
    assert _mode(tmp_path / "vmcatcher.db") == 0o640


def test_an_open_mode_is_refused(tmp_path: Path) -> None:
    result = _run(
        "vmcatcher_subscribe",
        "-l",
        "-d",
        "sqlite:///vmcatcher.db",
        cwd=tmp_path,
        IMAGELIST_DB_FILE_MODE="0644",
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "vmcatcher_subscribe: error: IMAGELIST_DB_FILE_MODE must be 0600 or 0640, not '0644'"
    ]
    assert list(tmp_path.iterdir()) == []


def test_publisher_database_is_private(tmp_path: Path) -> None:
    result = _run("vmcaster", "--select-imagelist", "l1", "--add-imagelist", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _mode(tmp_path / "vmcaster.db") == 0o600


def test_an_existing_open_database_is_warned_about(tmp_path: Path) -> None:
    result = _run("vmcaster", "--select-imagelist", "l1", "--add-imagelist", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    before = (tmp_path / "vmcaster.db").read_bytes()
    (tmp_path / "vmcaster.db").chmod(0o644)
    result = _run("vmcaster", "--list-imagelist", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "has mode 0644: readable or writable by others" in result.stderr
    assert _mode(tmp_path / "vmcaster.db") == 0o644, "left as the admin set it"
    assert (tmp_path / "vmcaster.db").read_bytes() == before
