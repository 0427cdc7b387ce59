"""The site configuration file: precedence option > environment > file > default, strictness,
``imagelist config``; the commands run as installed (console scripts next to sys.executable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imagelist.cache.jobs import AUTO_JOBS_CAP
from imagelist.cli import vmcatcher_cache, vmcatcher_status, vmcatcher_subscribe
from imagelist.errors import ConfigurationError
from imagelist.monitoring.alarms import DEFAULT_CRITICAL_DAYS, DEFAULT_WARNING_DAYS
from imagelist.site_config import KEYS, SiteConfig, load_site_config, parse_site_config
from imagelist.site_report import effective_settings
from imagelist.trust.keys import DEFAULT_MIN_RSA_BITS

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "contrib" / "vmcatcher.toml"


def run(
    command: str, *args: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no VMCATCHER_*/IMAGELIST_*/X509_* variable of the caller leaks in."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VMCATCHER_", "IMAGELIST_", "X509_"))
    }
    base["HOME"] = str(tmp_path)
    return base


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- precedence, through the real commands ---------------------------------------------------


def test_database_url_option_beats_environment_beats_file_beats_default(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = write(tmp_path / "site.toml", f'[database]\nurl = "sqlite:///{tmp_path}/file.db"\n')
    run("vmcatcher_endorser", "-l", env=env, cwd=tmp_path)  # no file: the default
    assert (tmp_path / "vmcatcher.db").is_file()
    result = run("vmcatcher_endorser", "--config", str(config), "-l", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "file.db").is_file()
    env["VMCATCHER_RDBMS"] = f"sqlite:///{tmp_path}/env.db"
    env["IMAGELIST_CONFIG"] = str(config)
    assert run("vmcatcher_endorser", "-l", env=env, cwd=tmp_path).returncode == 0
    assert (tmp_path / "env.db").is_file()
    option = f"sqlite:///{tmp_path}/option.db"
    assert run("vmcatcher_endorser", "-d", option, "-l", env=env, cwd=tmp_path).returncode == 0
    assert (tmp_path / "option.db").is_file()


def test_trust_directory_option_beats_environment_beats_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = write(
        tmp_path / "site.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/v.db"\n'
        '[trust]\ndirectory = "/nonexistent/file"\n',
    )
    env["IMAGELIST_CONFIG"] = str(config)

    def used() -> str:
        result = run("vmcatcher_subscribe", "-U", *extra, env=env, cwd=tmp_path)
        assert result.returncode == 1
        return result.stderr.strip()

    extra: list[str] = []
    assert "trust directory /nonexistent/file does not exist" in used()
    env["X509_CERT_DIR"] = "/nonexistent/x509"  # an environment variable of the setting
    assert "trust directory /nonexistent/x509 does not exist" in used()
    env["VMCATCHER_DIR_CERT"] = "/nonexistent/env"
    assert "trust directory /nonexistent/env does not exist" in used()
    extra = ["-c", "/nonexistent/option"]
    assert "trust directory /nonexistent/option does not exist" in used()


def _handler(path: Path, name: str, log: Path) -> str:
    path.write_text(f"#!/bin/sh\necho {name} $VMCATCHER_EVENT_TYPE >> {log}\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def test_cache_directory_and_handler_option_beats_environment_beats_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    log = tmp_path / "events.log"
    handlers = {
        name: _handler(tmp_path / f"{name}.sh", name, log) for name in ("file", "env", "opt")
    }
    config = write(
        tmp_path / "site.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/v.db"\n'
        f'[cache]\ndirectory = "{tmp_path}/file-cache"\nevent_command = "{handlers["file"]}"\n',
    )
    args = ["--config", str(config), "-q"]
    assert run("vmcatcher_cache", *args, env=env, cwd=tmp_path).returncode == 0
    assert (tmp_path / "file-cache" / "cache.index").exists() or (tmp_path / "file-cache").is_dir()
    assert log.read_text().split("\n")[0] == "file ProcessPrefix"

    env["VMCATCHER_CACHE_DIR_CACHE"] = str(tmp_path / "env-cache")
    env["VMCATCHER_CACHE_EVENT"] = handlers["env"]
    assert run("vmcatcher_cache", *args, env=env, cwd=tmp_path).returncode == 0
    assert (tmp_path / "env-cache").is_dir()
    assert log.read_text().splitlines()[-1] == "env ProcessPostfix"

    option = ["-C", str(tmp_path / "opt-cache"), "-x", handlers["opt"]]
    assert run("vmcatcher_cache", *args, *option, env=env, cwd=tmp_path).returncode == 0
    assert (tmp_path / "opt-cache").is_dir()
    assert log.read_text().splitlines()[-1] == "opt ProcessPostfix"
    assert not (tmp_path / "cache").exists()  # the default was never used


def test_jobs_and_in_process_handlers_option_beats_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = write(
        tmp_path / "site.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/v.db"\n'
        '[cache]\njobs = 0\nevent_handlers = ["no-such-handler"]\n',
    )
    env["IMAGELIST_CONFIG"] = str(config)
    result = run("vmcatcher_cache", "-q", env=env, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        1,
        "vmcatcher_cache: error: --jobs must be at least 1\n",
    )
    result = run("vmcatcher_cache", "-q", "-j", "2", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no event handler named 'no-such-handler'" in result.stderr
    # an option replaces the file's handler list (it does not add to it)
    result = run(
        "vmcatcher_cache", "-q", "-j", "2", "--event-handler", "other", env=env, cwd=tmp_path
    )
    assert "no event handler named 'other'" in result.stderr
    assert "no-such-handler" not in result.stderr


def test_option_defaults_follow_the_file_in_process(tmp_path: Path) -> None:
    config = write(
        tmp_path / "site.toml",
        "[cache]\njobs = 7\nhandler_timeout = 12.5\nmax_event_attempts = 2\n"
        'dir_mode = "0700"\nfile_mode = "0600"\nallow_file_images = true\n'
        '[trust]\ncrl = "if-present"\nmin_rsa_bits = 4096\n',
    )
    from imagelist.site_config import apply_site_config, restore_environment

    args, _ = apply_site_config(vmcatcher_cache.build_parser(), ["--config", str(config)])
    assert (args.jobs, args.handler_timeout, args.max_event_attempts) == (7, 12.5, 2)
    assert (args.dir_mode, args.file_mode, args.allow_file_images) == (0o700, 0o600, True)
    args, _ = apply_site_config(
        vmcatcher_cache.build_parser(), ["--config", str(config), "-j", "3"]
    )
    assert args.jobs == 3
    args, _ = apply_site_config(vmcatcher_subscribe.build_parser(), ["--config", str(config), "-U"])
    assert (args.crl, args.min_rsa_bits) == ("if-present", 4096)
    restore_environment()


def test_file_variables_are_removed_after_an_in_process_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VMCATCHER_RDBMS", raising=False)
    config = write(tmp_path / "site.toml", f'[database]\nurl = "sqlite:///{tmp_path}/v.db"\n')
    monkeypatch.chdir(tmp_path)
    assert vmcatcher_subscribe.main(["--config", str(config), "-l"]) == 0
    assert (tmp_path / "v.db").is_file()
    assert "VMCATCHER_RDBMS" not in os.environ


# --- strictness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cache]\njobz = 3\n", "unknown key cache.jobz"),
        ("[caches]\njobs = 3\n", "unknown section [caches]"),
        ('[cache]\njobs = "4"\n', "cache.jobs must be an integer, not '4'"),
        ("[cache]\njobs = true\n", "cache.jobs must be an integer, not True"),
        ("[database]\nurl = 5\n", "database.url must be a string, not 5"),
        ('[trust]\nhttps_igtf = "no"\n', "trust.https_igtf must be true or false, not 'no'"),
        ("[cache]\nevent_handlers = [1]\n", "cache.event_handlers must be a list of strings"),
        ('[cache]\ndir_mode = "0999"\n', "cache.dir_mode must be an octal mode"),
        ('[trust]\ncrl = "sometimes"\n', 'trust.crl must be "require" or "if-present"'),
        ("[cache]\njobs = -1\n", "cache.jobs must not be negative"),
        ('[database]\nfile_mode = "0644"\n', 'database.file_mode must be "0600" or "0640"'),
        ('[subscriber]\noutput_format = "xml"\n', "subscriber.output_format must be one of"),
        ("[cache\njobs = 3\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_78(
    tmp_path: Path, env: dict[str, str], text: str, message: str
) -> None:
    config = write(tmp_path / "site.toml", text)
    commands = ("vmcatcher_cache", "vmcatcher_subscribe", "vmcatcher_image", "vmcatcher_endorser")
    for command in (commands[len(text) % 4],):  # each case through one of the four commands
        result = run(command, "--config", str(config), "-l", env=env, cwd=tmp_path)
        assert result.returncode == 78, (command, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"{command}: error: configuration file {config}: ")
        assert message in lines[0]
        assert "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site.toml"]  # nothing created


def test_a_missing_named_file_is_exit_78_a_missing_default_is_not(
    tmp_path: Path, env: dict[str, str]
) -> None:
    missing = tmp_path / "missing.toml"
    result = run("vmcatcher_endorser", "--config", str(missing), "-l", env=env, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        78,
        f"vmcatcher_endorser: error: configuration file {missing}: does not exist\n",
    )
    env["IMAGELIST_CONFIG"] = str(missing)
    assert run("imagelist", "config", env=env, cwd=tmp_path).returncode == 78
    del env["IMAGELIST_CONFIG"]
    assert (
        load_site_config(None, {}) == SiteConfig() or Path("/etc/imagelist/vmcatcher.toml").exists()
    )
    result = run("imagelist", "config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_shipped_example_loads_and_names_only_known_keys() -> None:
    config = load_site_config(str(EXAMPLE), {})
    assert config.path == str(EXAMPLE)
    assert config.database_url == "sqlite:////var/lib/vmcatcher/vmcatcher.db"
    assert config.cache_directory == "/var/lib/vmcatcher/cache"
    assert (config.warning_days, config.critical_days, config.metrics_textfile) == (7, 1, None)


def test_monitoring_defaults_for_the_status_command() -> None:
    empty = parse_site_config("", "x.toml")
    assert (empty.metrics_textfile, empty.warning_days, empty.critical_days) == (None, 7, 1)
    set_ = parse_site_config(
        '[monitoring]\nmetrics_textfile = "/m/vmcatcher.prom"\n'
        "warning_days = 3\ncritical_days = 0\n",
        "x.toml",
    )
    assert (set_.metrics_textfile, set_.warning_days, set_.critical_days) == (
        "/m/vmcatcher.prom",
        3,
        0,
    )


def test_documented_defaults_are_the_options_defaults() -> None:
    parsers = [vmcatcher_cache.build_parser(), vmcatcher_subscribe.build_parser()]
    defaults: dict[str, object] = {}
    for parser in parsers:
        defaults.update({a.dest: a.default for a in parser._actions if a.dest != "help"})
    # the status thresholds' options default to None: the documented values apply
    defaults.update(warning_days=DEFAULT_WARNING_DAYS, critical_days=DEFAULT_CRITICAL_DAYS)
    for key in KEYS:
        if key.dest is None:
            continue
        value = defaults[key.dest]
        if key.dest == "jobs":  # sized from the work unless given (cache.jobs.workers)
            assert (value, key.default) == (None, f"one per image, at most {AUTO_JOBS_CAP}"), key
        elif key.dest in ("dir_mode", "file_mode"):
            assert key.default == f"{value:04o}", key
        elif isinstance(value, float):
            assert float(key.default) == value, key
        elif isinstance(value, bool):
            assert key.default == str(value).lower(), key
        elif isinstance(value, list):
            assert key.default == "[]", key
        else:
            assert key.default == str(value), key
    assert DEFAULT_MIN_RSA_BITS == 2048


# --- imagelist config ----------------------------------------------------------------------------


def test_imagelist_config_text_and_json_show_sources_and_hide_the_password(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = write(
        tmp_path / "site.toml",
        '[database]\nurl = "postgresql://vmc:file-secret@db.example/vmcatcher"\n'
        '[cache]\ndirectory = "/srv/cache"\njobs = 8\n',
    )
    env["VMCATCHER_CACHE_DIR_CACHE"] = "/env/cache"
    result = run("imagelist", "config", "--config", str(config), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "file-secret" not in result.stdout + result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows["database.url"].split()[1] == "postgresql://vmc:***@db.example/vmcatcher"
    assert rows["database.url"].endswith(f"[file {config}:database.url]")
    assert rows["cache.directory"].split()[1:] == [
        "/env/cache",
        "[environment",
        "VMCATCHER_CACHE_DIR_CACHE]",
    ]
    assert rows["cache.download_directory"].split()[1:] == ["/env/cache/partial", "[default]"]
    assert rows["cache.jobs"].split()[1:] == ["8", "[file", f"{config}:cache.jobs]"]
    assert rows["trust.crl"].split()[1:] == ["require", "[default]"]

    env["VMCATCHER_RDBMS"] = "postgresql://vmc:env-secret@db.example/other"
    result = run(
        "imagelist", "config", "--config", str(config), "-f", "json", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "secret" not in result.stdout
    document = json.loads(result.stdout)
    assert document["file"] == str(config)
    settings = {item["key"]: item for item in document["settings"]}
    assert [item["key"] for item in document["settings"]] == [key.dotted for key in KEYS]
    assert settings["database.url"] == {
        "key": "database.url",
        "value": "postgresql://vmc:***@db.example/other",
        "source": "environment VMCATCHER_RDBMS",
    }
    assert settings["cache.jobs"]["source"] == f"file {config}:cache.jobs"
    assert settings["cache.max_tries"] == {
        "key": "cache.max_tries",
        "value": "5",
        "source": "default",
    }


def test_effective_settings_option_beats_environment_beats_file_beats_default() -> None:
    config = parse_site_config(
        '[database]\nurl = "sqlite:///file.db"\n[trust]\ndirectory = "/file/trust"\n'
        '[cache]\ndirectory = "/file/cache"\njobs = 2\nevent_command = "/file/handler"\n',
        "/etc/site.toml",
    )
    environ = {"VMCATCHER_RDBMS": "sqlite:///env.db", "VMCATCHER_CACHE_EVENT": "/env/handler"}
    options = {"database.url": "sqlite:///option.db", "cache.jobs": 3}
    got = {s.key: (s.value, s.source) for s in effective_settings(config, environ, options)}
    assert got["database.url"] == ("sqlite:///option.db", "option -d")
    assert got["cache.jobs"] == ("3", "option --jobs")
    assert got["cache.event_command"] == ("/env/handler", "environment VMCATCHER_CACHE_EVENT")
    assert got["trust.directory"] == ("/file/trust", "file /etc/site.toml:trust.directory")
    assert got["cache.directory"] == ("/file/cache", "file /etc/site.toml:cache.directory")
    assert got["cache.handler_timeout"] == ("1800", "default")
    bare = {s.key: (s.value, s.source) for s in effective_settings(SiteConfig(), {})}
    assert bare["database.url"] == ("sqlite:///vmcatcher.db", "default")
    assert bare["cache.directory"] == ("cache", "default")


def test_a_bad_file_names_the_file_even_in_process(tmp_path: Path) -> None:
    config = write(tmp_path / "site.toml", "[cache]\nunknown = 1\n")
    with pytest.raises(ConfigurationError, match=r"unknown key cache\.unknown") as caught:
        load_site_config(str(config), {})
    assert caught.value.exit_code == 78
    assert str(config) in str(caught.value)


def test_an_unusable_handler_from_the_file_names_the_file_key(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = write(
        tmp_path / "site.toml",
        f'[database]\nurl = "sqlite:///{tmp_path}/v.db"\n'
        f'[cache]\ndirectory = "{tmp_path}/c"\nevent_command = "/nonexistent/handler"\n',
    )
    result = run("vmcatcher_cache", "--config", str(config), "-q", env=env, cwd=tmp_path)
    assert result.returncode == 78
    assert result.stderr.count("\n") == 1
    assert f"/nonexistent/handler ({config}:cache.event_command)" in result.stderr
    env["VMCATCHER_CACHE_EVENT"] = "/nonexistent/env-handler"
    result = run("vmcatcher_cache", "--config", str(config), "-q", env=env, cwd=tmp_path)
    assert result.returncode == 78
    assert "/nonexistent/env-handler (VMCATCHER_CACHE_EVENT)" in result.stderr


def test_the_status_command_reads_the_monitoring_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAGELIST_METRICS_TEXTFILE", raising=False)
    from imagelist.cli._settings import command_settings
    from imagelist.site_config import apply_site_config, restore_environment

    config = write(
        tmp_path / "site.toml",
        "[monitoring]\nwarning_days = 10\ncritical_days = 2.5\n"
        'metrics_textfile = "/var/lib/node_exporter/vmcatcher.prom"\n',
    )
    try:
        args, site = apply_site_config(vmcatcher_status.build_parser(), ["--config", str(config)])
        assert (args.warning_days, args.critical_days) == (10.0, 2.5)
        assert (site.warning_days, site.critical_days) == (10.0, 2.5)
        # The file's variables are the command's settings, not the process environment.
        assert "IMAGELIST_METRICS_TEXTFILE" not in os.environ
        textfile = command_settings(site).environ["IMAGELIST_METRICS_TEXTFILE"]
        assert textfile == "/var/lib/node_exporter/vmcatcher.prom"
        args, _ = apply_site_config(
            vmcatcher_status.build_parser(), ["--config", str(config), "--warning-days", "3"]
        )
        assert args.warning_days == 3.0
    finally:
        restore_environment()
    assert "IMAGELIST_METRICS_TEXTFILE" not in os.environ
