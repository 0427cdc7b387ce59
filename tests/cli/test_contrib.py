"""The shipped service files (contrib/): systemd-analyze verify, the cron job's commands are the
package's console scripts, the cron job runs, and the docs show the files as shipped."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from imagelist.site_config import load_site_config
from tests.peers import require_peer
from tests.pki import TestPki

REPO = Path(__file__).resolve().parents[2]
CONTRIB = REPO / "contrib"
BIN = Path(sys.executable).parent
INSTALLED_BIN = "/opt/imagelist/bin"
UNITS = ("vmcatcher.service", "vmcatcher.timer")
CRON = CONTRIB / "cron.d" / "vmcatcher"


def console_scripts() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return set(project["project"]["scripts"])


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        require_peer("systemd-analyze", "not on PATH (Debian package systemd)")
    return found


def installed(tmp_path: Path, text: str) -> str:
    """The shipped text with the tools where this test's package is installed."""
    return text.replace(INSTALLED_BIN, str(BIN)).replace("/var/lib/vmcatcher", str(tmp_path))


def verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze(), "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_systemd_analyze_verify_accepts_the_shipped_units(tmp_path: Path) -> None:
    units = []
    for name in UNITS:
        unit = tmp_path / name
        unit.write_text(installed(tmp_path, (CONTRIB / "systemd" / name).read_text()))
        units.append(unit)
    result = verify(units)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

    # the control: verify does read the files (a misspelt key is reported, a bad command fails)
    (tmp_path / "bad").mkdir()
    bad = tmp_path / "bad" / "vmcatcher.service"
    bad.write_text(units[0].read_text().replace("Type=oneshot", "Typ=oneshot"))
    assert "Unknown key 'Typ'" in verify([bad]).stderr
    bad.write_text(units[0].read_text().replace(str(BIN), "/nonexistent/bin"))
    result = verify([bad])
    assert result.returncode != 0
    assert "/nonexistent/bin/vmcatcher_subscribe" in result.stderr


def test_the_service_runs_console_scripts_of_the_package_with_the_config_file() -> None:
    text = (CONTRIB / "systemd" / "vmcatcher.service").read_text()
    commands = re.findall(r"^ExecStart=(\S+)", text, re.MULTILINE)
    assert commands == [f"{INSTALLED_BIN}/vmcatcher_subscribe", f"{INSTALLED_BIN}/vmcatcher_cache"]
    for command in commands:
        name = Path(command).name
        assert name in console_scripts()
        assert os.access(BIN / name, os.X_OK)
    assert "Environment=IMAGELIST_CONFIG=/etc/imagelist/vmcatcher.toml" in text
    assert re.search(r"^Type=oneshot$", text, re.MULTILINE)
    timer = (CONTRIB / "systemd" / "vmcatcher.timer").read_text()
    assert "OnCalendar=00/6:17" in timer


def _cron_job() -> tuple[dict[str, str], str, str]:
    """The cron file's variables, the user and the command of its one job."""
    variables: dict[str, str] = {}
    jobs = []
    for line in CRON.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z_]+)=(.*)", line)
        if match:
            variables[match.group(1)] = match.group(2)
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, line  # minute hour day month weekday user command
        jobs.append((fields[5], fields[6]))
    assert len(jobs) == 1
    return variables, *jobs[0]


def test_the_cron_file_names_console_scripts_by_full_path() -> None:
    variables, user, command = _cron_job()
    assert user == "vmcatcher"
    assert variables["IMAGELIST_CONFIG"] == "/etc/imagelist/vmcatcher.toml"
    programs = [shlex.split(part)[0] for part in command.split("&&")]
    assert programs[0] == "cd"
    for program in programs[1:]:  # cron's PATH is /usr/bin:/bin: full paths only
        assert program.startswith(f"{INSTALLED_BIN}/"), program
        assert Path(program).name in console_scripts()
        assert os.access(BIN / Path(program).name, os.X_OK)


def test_the_cron_job_runs_as_shipped(tmp_path: Path, test_pki: TestPki) -> None:
    """The job's command line, with the install paths of this test, on an empty site."""
    trust = test_pki.trust_dir
    config = tmp_path / "vmcatcher.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/vmcatcher.db"\n'
        f'[trust]\ndirectory = "{trust}"\n[cache]\ndirectory = "{tmp_path}/cache"\n'
    )
    variables, _, command = _cron_job()
    environ = {key: installed(tmp_path, value) for key, value in variables.items()}
    environ["IMAGELIST_CONFIG"] = str(config)
    environ["HOME"] = str(tmp_path)
    result = subprocess.run(
        ["/bin/sh", "-c", installed(tmp_path, command)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / "vmcatcher.db").is_file()
    assert (tmp_path / "cache" / "partial").is_dir()


def test_the_shipped_example_config_is_accepted() -> None:
    config = load_site_config(str(CONTRIB / "vmcatcher.toml"), {})
    assert config.keys  # it sets something
    assert config.database_url == "sqlite:////var/lib/vmcatcher/vmcatcher.db"


@pytest.mark.parametrize(
    ("doc", "shipped"),
    [
        ("docs/vmcatcher_cache.md", "systemd/vmcatcher.service"),
        ("docs/vmcatcher_cache.md", "systemd/vmcatcher.timer"),
        ("docs/vmcatcher_cache.md", "cron.d/vmcatcher"),
        ("docs/vmcatcher_cache.md", "vmcatcher.toml"),
    ],
)
def test_the_docs_show_the_files_as_shipped(doc: str, shipped: str) -> None:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", (REPO / doc).read_text(), re.DOTALL)
    assert (CONTRIB / shipped).read_text() in blocks
