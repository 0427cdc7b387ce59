"""Command × failure → the documented exit code, for all eight commands (issue 10 §3-§5).

One table, :data:`CASES`: each row runs one command in-process against real parts (SQLite files
locked by a second connection, a PostgreSQL URL whose server is down, the test PKI, files made
in ``tmp_path``) and asserts

* the exit code, and that the command's exit-code table in the docs lists it;
* one line ``prog: error: ...`` on stderr for a failure (no traceback, no usage text);
* for database failures: exit 36, the URL shown redacted, and no secret and no SQL parameter
  text anywhere in the output.

Add a row to extend it; :data:`DOC_TABLES` says where each command's table is.
"""

from __future__ import annotations

import io
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from imagelist import __version__
from imagelist.cli import (
    imagelist_glance,
    imagelist_opennebula,
    imagelist_tool,
    vmcaster,
    vmcatcher_cache,
    vmcatcher_endorser,
    vmcatcher_image,
    vmcatcher_status,
    vmcatcher_subscribe,
)
from tests.httpserver import HttpServer

ROOT = Path(__file__).resolve().parents[2]
MAINS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "vmcaster": vmcaster.main,
    "vmcatcher_subscribe": vmcatcher_subscribe.main,
    "vmcatcher_image": vmcatcher_image.main,
    "vmcatcher_endorser": vmcatcher_endorser.main,
    "vmcatcher_cache": vmcatcher_cache.main,
    "vmcatcher_status": vmcatcher_status.main,
    "imagelist": imagelist_tool.main,
    "imagelist-glance": imagelist_glance.main,
    "imagelist-opennebula": imagelist_opennebula.main,
}
#: Where each command's exit-code table is: (file, a line just above the table).
DOC_TABLES: dict[str, tuple[str, str]] = {
    "vmcaster": ("docs/vmcaster.md", "## Exit codes"),
    "vmcatcher_subscribe": ("docs/vmcatcher.md", "## Exit codes"),
    "vmcatcher_image": ("docs/vmcatcher.md", "## Exit codes"),
    "vmcatcher_endorser": ("docs/vmcatcher.md", "## Exit codes"),
    "vmcatcher_cache": ("docs/vmcatcher_cache.md", "## Exit codes"),
    "vmcatcher_status": ("docs/vmcatcher.md", "### vmcatcher_status exit codes"),
    "imagelist": ("README.md", "`verify` applies the rules vmcatcher applies"),
    "imagelist-glance": ("docs/backends.md", "**Exit status.**"),
    "imagelist-opennebula": ("docs/backends.md", "**Exit status.**"),
}
#: Commands with a database, and the environment variable naming it.
DATABASE_COMMANDS = {
    "vmcaster": "VMCASTER_RDBMS",
    "vmcatcher_subscribe": "VMCATCHER_RDBMS",
    "vmcatcher_image": "VMCATCHER_RDBMS",
    "vmcatcher_endorser": "VMCATCHER_RDBMS",
    "vmcatcher_cache": "VMCATCHER_RDBMS",
    "vmcatcher_status": "VMCATCHER_RDBMS",
}
SECRET = "S3cr3t-pw-42"
SUBSCRIPTION = "sub-1"
IMAGE = "img-1"
ENDORSER_DN = "/DC=org/DC=example/CN=Endorser One"
ENDORSER_CA = "/DC=org/DC=example/CN=Example CA"
_ENV_PREFIXES = ("VMCATCHER_", "VMCASTER_", "IMAGELIST_", "OS_", "ONE_", "X509_")


def documented_codes(command: str) -> set[int]:
    """The codes in the first column of the command's exit-code table in the docs."""
    path, marker = DOC_TABLES[command]
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(marker))
    codes: set[int] = set()
    in_table = False
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            in_table = True
            cell = line.split("|")[1]
            codes.update(int(code) for code in re.findall(r"\b\d+\b", cell))
        elif in_table:
            break
    return codes


# --- the world each row runs in -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class World:
    """What a row needs: a directory, databases in known states, and the test PKI on demand."""

    tmp: Path
    request: pytest.FixtureRequest
    env: dict[str, str] = field(default_factory=dict)
    holders: list[sqlite3.Connection] = field(default_factory=list)
    servers: list[HttpServer] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.tmp / name

    def sqlite(self, command: str, *, populated: bool = True) -> str:
        """A migrated SQLite database of ``command``'s kind (short busy timeout)."""
        kind = "vmcaster" if command == "vmcaster" else "vmcatcher"
        path = self.tmp / f"{kind}.db"
        url = f"sqlite:///{path}?timeout=0.2"
        if not path.exists():
            if kind == "vmcaster":
                from imagelist.db.publisher import open_database as open_publisher

                engine = open_publisher(url)
                if populated:
                    vmcaster.main(["-d", url, "--add-endorser", "--select-endorser", ENDORSER_DN])
            else:
                from imagelist.db.subscriber import open_database as open_subscriber

                engine = open_subscriber(url)
                if populated:
                    _populate_subscriber(engine)
            engine.dispose()
        return url

    def locked(self, command: str, *, readers_too: bool = False) -> str:
        """The database with a write lock held by another connection (and reads blocked too)."""
        url = self.sqlite(command)
        holder = sqlite3.connect(url.split("///", 1)[1].split("?")[0], isolation_level=None)
        if readers_too:
            holder.execute("PRAGMA locking_mode = EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
        else:
            holder.execute("BEGIN IMMEDIATE")
        holder.execute("CREATE TABLE IF NOT EXISTS lock_probe (x INTEGER)")
        holder.execute("INSERT INTO lock_probe VALUES (1)")
        self.holders.append(holder)
        return url

    def postgres_down(self) -> str:
        """A PostgreSQL URL, with a password, of a server that is not running."""
        return f"postgresql+psycopg://vmcatcher:{SECRET}@127.0.0.1:{_free_port()}/vmcatcher"

    @property
    def pki(self):  # type: ignore[no-untyped-def]
        return self.request.getfixturevalue("test_pki")

    def http_server(self) -> HttpServer:
        server = HttpServer().start()
        self.servers.append(server)
        return server

    def close(self) -> None:
        for holder in self.holders:
            holder.close()
        for server in self.servers:
            server.stop()


def _populate_subscriber(engine: object) -> None:
    """One endorser, one subscription, one image definition, written as the tools would."""
    from sqlalchemy import Engine, insert

    from imagelist.db.engine import transaction
    from imagelist.db.subscriber.models import (
        Endorser,
        EndorserPrincipal,
        ImageDefinition,
        Subscription,
    )

    assert isinstance(engine, Engine)
    with transaction(engine) as session:
        endorser = session.execute(
            insert(Endorser).values(identifier="endorser-1").returning(Endorser.id)
        ).scalar_one()
        session.execute(
            insert(EndorserPrincipal).values(
                endorser_id=endorser, hv_dn=ENDORSER_DN, hv_ca=ENDORSER_CA
            )
        )
        subscription = session.execute(
            insert(Subscription)
            .values(identifier=SUBSCRIPTION, uri=f"http://127.0.0.1:{_free_port()}/image.list")
            .returning(Subscription.id)
        ).scalar_one()
        session.execute(
            insert(ImageDefinition).values(
                identifier=IMAGE, cache=0, subscription_id=subscription, latest=None
            )
        )


# --- the rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    command: str
    failure: str
    code: int
    argv: Callable[[World], list[str]]
    message: str = ""
    database: bool = False  # a database failure: also check redaction and secrets

    @property
    def id(self) -> str:
        return f"{self.command}:{self.failure}"


def _usage(command: str, argv: list[str], message: str) -> Case:
    return Case(command, "usage", 1, lambda _w: argv, message)


def _version(command: str) -> Case:
    return Case(command, "version", 0, lambda _w: ["--version"])


def _abbreviation(command: str, prefix: str) -> Case:
    """argparse's prefix matching is off: ``--updat`` is not ``--update``."""
    return Case(
        command,
        "abbreviated-option",
        1,
        lambda _w: [prefix],
        f"unrecognized arguments: {prefix}",
    )


#: One database action per command that writes, one that only reads.
_DB_WRITES: list[tuple[str, str, list[str]]] = [
    ("vmcaster", "add-imagelist", ["--add-imagelist", "--select-imagelist", "1111-2222"]),
    ("vmcaster", "add-endorser", ["--add-endorser", "--select-endorser", "/CN=two"]),
    ("vmcaster", "del-endorser", ["--del-endorser", "--select-endorser", ENDORSER_DN]),
    ("vmcatcher_subscribe", "password", ["--uri-password-set", SECRET, "-u", SUBSCRIPTION]),
    ("vmcatcher_subscribe", "delete", ["-D", "-u", SUBSCRIPTION]),
    ("vmcatcher_subscribe", "reset-trust", ["--reset-trust", "--yes", "-u", SUBSCRIPTION]),
    ("vmcatcher_subscribe", "trust-anchor", ["--uri-trustanchor-set", "igtf", "-u", SUBSCRIPTION]),
    ("vmcatcher_image", "add", ["-a", "-u", IMAGE]),
    ("vmcatcher_image", "remove", ["-r", "-u", IMAGE]),
    ("vmcatcher_endorser", "create", ["--create", "-e", "e-2", "--dn", "/CN=two", "-I", "/CN=ca"]),
    ("vmcatcher_endorser", "link", ["--link", "-e", "endorser-1", "-s", SUBSCRIPTION]),
    ("vmcatcher_endorser", "delete", ["--delete", "-e", "endorser-1"]),
]
_DB_READS: dict[str, list[str]] = {
    "vmcaster": ["--list-endorser"],
    "vmcatcher_subscribe": ["-l"],
    "vmcatcher_image": ["-l"],
    "vmcatcher_endorser": ["-l"],
    "vmcatcher_cache": ["--dry-run"],
    "vmcatcher_status": ["-f", "json"],
}


def _database_cases() -> list[Case]:
    cases: list[Case] = []
    for command, action, argv in _DB_WRITES:
        cases.append(
            Case(
                command,
                f"database-locked-{action}",
                36,
                lambda w, c=command, a=argv: [*a, "-d", w.locked(c)],
                "database is locked",
                database=True,
            )
        )
    for command, argv in _DB_READS.items():
        cases.append(
            Case(
                command,
                "database-locked-read",
                36,
                lambda w, c=command, a=argv: [*a, "-d", w.locked(c, readers_too=True)],
                "database is locked",
                database=True,
            )
        )
        cases.append(
            Case(
                command,
                "postgresql-down",
                36,
                lambda w, a=argv: [*a, "-d", w.postgres_down()],
                "cannot open database postgresql+psycopg://vmcatcher:***@127.0.0.1:",
                database=True,
            )
        )
    write = _DB_WRITES[3][2]
    cases.append(
        Case(
            "vmcatcher_subscribe",
            "postgresql-down-write",
            36,
            lambda w: [*write, "-d", w.postgres_down()],
            "Connection refused",
            database=True,
        )
    )
    return cases


def _bad_url_case(command: str) -> Case:
    return Case(
        command,
        "invalid-database-url",
        1,
        lambda _w: [*_DB_READS[command], "-d", f"nonsense:{SECRET}@x"],
        "invalid database URL 'nonsense:***@x'",
        database=True,
    )


def _signed_garbage(world: World) -> str:
    path = world.path("garbage.list")
    path.write_bytes(b"MIME-Version: 1.0\r\n\r\nnot a signature\r\n")
    return str(path)


def _json_file(world: World, text: str) -> str:
    path = world.path("list.json")
    path.write_text(text, encoding="utf-8")
    return str(path)


CASES: list[Case] = [
    # --- usage errors: one line, exit 1, for every command; --version; no prefix matching
    _usage("vmcaster", ["--no-such-option"], "unrecognized arguments: --no-such-option"),
    _usage("vmcatcher_subscribe", ["--no-such-option"], "unrecognized arguments: --no-such-option"),
    _usage("vmcatcher_image", ["--no-such-option"], "unrecognized arguments: --no-such-option"),
    _usage("vmcatcher_endorser", ["--no-such-option"], "unrecognized arguments: --no-such-option"),
    _usage("vmcatcher_cache", ["--jobs", "many"], "argument -j/--jobs: invalid int value: 'many'"),
    _usage("vmcatcher_status", ["-f", "xml"], "argument -f/--format: invalid choice: 'xml'"),
    _usage("imagelist", ["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    _usage("imagelist-glance", ["--no-such-option"], "unrecognized arguments: --no-such-option"),
    _usage(
        "imagelist-opennebula", ["--no-such-option"], "unrecognized arguments: --no-such-option"
    ),
    *[_version(command) for command in MAINS],
    _abbreviation("vmcatcher_subscribe", "--updat"),
    _abbreviation("vmcaster", "--list-endorse"),
    _abbreviation("vmcatcher_cache", "--dry"),
    _abbreviation("imagelist-glance", "--dry"),
    _abbreviation("vmcatcher_status", "--chec"),
    # --- databases: locked SQLite files, a PostgreSQL server that is down, bad URLs
    *_database_cases(),
    *[_bad_url_case(command) for command in DATABASE_COMMANDS],
    # --- each command's own documented failures
    Case(
        "vmcaster",
        "object-not-found",
        1,
        lambda w: ["--show-imagelist", "--select-imagelist", "nope", "-d", w.sqlite("vmcaster")],
        "nope",
    ),
    Case(
        "vmcatcher_subscribe",
        "server-down",
        10,
        lambda w: ["-U", "-d", w.sqlite("vmcatcher_subscribe"), "-c", str(w.pki.trust_dir)],
        # "failed" (not "rejected": no list was refused) and the real cause, not "timed out"
        f"{SUBSCRIPTION}\t10\tfailed\tcannot retrieve http://127.0.0.1:",
    ),
    Case(
        "vmcatcher_subscribe",
        "bare-path",
        10,
        lambda w: [
            "-s",
            "image.list",
            "-d",
            w.sqlite("vmcatcher_subscribe"),
            "-c",
            str(w.pki.trust_dir),
        ],
        "for a local file use file:///",
    ),
    Case(
        "vmcatcher_subscribe",
        "unknown-selection",
        1,
        lambda w: ["-i", "-u", "nope", "-d", w.sqlite("vmcatcher_subscribe")],
        "nope",
    ),
    Case(
        "vmcatcher_image",
        "unknown-image",
        1,
        lambda w: ["-a", "-u", "nope", "-d", w.sqlite("vmcatcher_image")],
        "nope",
    ),
    Case(
        "vmcatcher_endorser",
        "dn-taken",
        12,
        lambda w: [
            "--create",
            "-e",
            "endorser-2",
            "--dn",
            ENDORSER_DN,
            "-I",
            ENDORSER_CA,
            "-d",
            w.sqlite("vmcatcher_endorser"),
        ],
        ENDORSER_DN,
    ),
    Case(
        "vmcatcher_endorser",
        "unknown-endorser",
        1,
        lambda w: ["-i", "-e", "nope", "-d", w.sqlite("vmcatcher_endorser")],
        "nope",
    ),
    Case(
        "vmcatcher_cache",
        "legacy-database",
        36,
        lambda w: ["--dry-run", "-d", _legacy_database(w)],
        "vmcatcher 0.6 database",
    ),
    Case(
        "vmcatcher_cache",
        "handler-failed",
        41,
        lambda w: _cache_with_failing_handler(w),
        "",
    ),
    Case(
        "vmcatcher_status",
        "check-ok",
        0,
        lambda w: _status_check(w, populated=False),
        "IMAGELIST OK - 0 subscription(s), 0 image(s)\n",
    ),
    Case(
        "vmcatcher_status",
        "check-warning",
        1,
        lambda w: _status_check(w),
        f"IMAGELIST WARNING - 1 problem(s): {SUBSCRIPTION}: no list accepted yet\n",
    ),
    Case(
        "vmcatcher_status",
        "check-critical",
        2,
        lambda w: _status_check(w, dead_crl=True),
        "IMAGELIST CRITICAL - ",
    ),
    Case(
        "vmcatcher_status",
        "check-unknown",
        3,
        lambda w: [
            "--check",
            "-C",
            str(w.tmp),
            "-d",
            w.locked("vmcatcher_status", readers_too=True),
        ],
        "IMAGELIST UNKNOWN - cannot open database sqlite:///",
        database=True,
    ),
    Case(
        "vmcatcher_status",
        "inconsistent-thresholds",
        1,
        lambda w: ["--warning-days", "1", "--critical-days", "3"],
        "thresholds must satisfy 0 <= critical days (3) <= warning days (1)",
    ),
    Case(
        "imagelist",
        "not-smime",
        11,
        lambda w: ["verify", _signed_garbage(w), "-c", str(w.pki.trust_dir)],
        "not an S/MIME",
    ),
    Case("imagelist", "bad-json", 38, lambda w: ["show", _json_file(w, "{")], "not valid JSON"),
    Case(
        "imagelist",
        "huge-number",
        38,
        lambda w: ["show", _json_file(w, '{"hv:imagelist": {"n": 99999999999999999999999}}')],
        "out of range",
    ),
    Case(
        "imagelist",
        "no-ca",
        12,
        lambda w: ["verify", _signed_garbage(w), "-c", str(w.tmp)],
        "no CA certificate",
    ),
    Case(
        "imagelist-glance",
        "no-credentials",
        78,
        lambda _w: ["--list"],
        "no usable OpenStack credentials",
    ),
    Case(
        "imagelist-glance",
        "config-missing",
        1,
        lambda w: ["-c", str(w.path("none.toml"))],
        "does not exist",
    ),
    Case(
        "imagelist-opennebula",
        "config-missing",
        1,
        lambda w: ["-c", str(w.path("none.toml"))],
        "does not exist",
    ),
    Case(
        "imagelist-opennebula",
        "event-without-identifier",
        54,
        lambda w: _one_event(w),
        "VMCATCHER_EVENT_DC_IDENTIFIER",
    ),
    Case(
        "imagelist-opennebula",
        "oned-down",
        51,
        lambda w: _one_env(w, ["--list"]),
        "cannot reach OpenNebula",
    ),
]


def _cache_with_failing_handler(world: World) -> list[str]:
    """A subscribed image served on 127.0.0.1 and a handler that always fails."""
    from tests.cache.support import build_cache_site
    from tests.subscriber.support import Site

    root = world.path("cache-site")
    root.mkdir()
    site = Site(f"sqlite:///{root / 'vmcatcher.db'}", world.pki.trust_dir)
    cached = build_cache_site(site, world.http_server(), world.pki.good, root, {"img-a": 4096})
    return ["-d", site.database, "-C", str(cached.cache_dir), "-x", "false"]


def _status_check(world: World, *, populated: bool = True, dead_crl: bool = False) -> list[str]:
    """``vmcatcher_status --check`` on a site whose list is accepted (CRL dead: critical)."""
    if not populated:
        url = world.sqlite("vmcatcher_status", populated=False)
        return ["--check", "-d", url, "-c", str(world.pki.trust_dir), "-C", str(world.tmp)]
    url = world.sqlite("vmcatcher_status")
    trust = world.pki.stale_crl_dir if dead_crl else world.pki.trust_dir
    if dead_crl:
        from tests.subscriber.support import Site, build_world

        root = world.path("status-site")
        root.mkdir()
        site = Site(f"sqlite:///{root / 'vmcatcher.db'}", world.pki.trust_dir)
        build_world(site, world.http_server(), world.pki.good)
        url = site.database
    return ["--check", "-d", url, "-c", str(trust), "-C", str(world.tmp)]


def _legacy_database(world: World) -> str:
    path = world.path("legacy.db")
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE subscription (id INTEGER PRIMARY KEY)")
    return f"sqlite:///{path}"


def _one_env(world: World, argv: list[str]) -> list[str]:
    auth = world.path("one_auth")
    auth.write_text("oneadmin:password\n", encoding="utf-8")
    world.env.update({"ONE_AUTH": str(auth), "ONE_XMLRPC": f"http://127.0.0.1:{_free_port()}/RPC2"})
    return argv


def _one_event(world: World) -> list[str]:
    world.env["VMCATCHER_EVENT_TYPE"] = "AvailablePostfix"
    return _one_env(world, [])


# --- the test -------------------------------------------------------------------------------------


@contextmanager
def _environment(world: World) -> Iterator[None]:
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            del os.environ[name]
    os.environ["HOME"] = str(world.tmp)
    os.environ["XDG_CONFIG_HOME"] = str(world.tmp / ".config")
    os.environ.update(world.env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _Out(io.StringIO):
    """stdout with a ``.buffer`` for the commands that write bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()

    def text(self) -> str:
        return self.getvalue() + self.buffer.getvalue().decode("utf-8", "replace")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_exit_code(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    world = World(tmp_path, request)
    try:
        argv = case.argv(world)
        out, err = _Out(), io.StringIO()
        with _environment(world), redirect_stdout(out), redirect_stderr(err):
            code = MAINS[case.command](argv)
    finally:
        world.close()
    stdout, stderr = out.text(), err.getvalue()
    everything = stdout + stderr

    assert code == case.code, (case.id, stdout, stderr)
    assert case.code in documented_codes(case.command), (
        f"{case.command} can exit {case.code} ({case.failure}) but "
        f"{DOC_TABLES[case.command][0]} does not list it"
    )
    assert "Traceback" not in everything
    if case.failure == "version":
        assert stdout == f"{case.command} (imagelist {__version__})\n"
        return
    # -U reports on stdout, one line per subscription; 40/41 are the cache's run outcomes;
    # vmcatcher_status --check reports its verdict on stdout (Nagios plugin).
    if case.code not in (0, 40, 41) and "-U" not in argv and "--check" not in argv:
        errors = [line for line in stderr.splitlines() if ": error: " in line]
        assert len(errors) == 1, stderr
        assert errors[0].startswith(f"{case.command}: error: ")
        assert "usage:" not in stderr
    if case.failure in ("usage", "abbreviated-option"):
        assert stderr.endswith(f" (see {case.command} --help)\n"), stderr
    assert case.message in everything, (case.message, everything)
    if case.database:
        assert SECRET not in everything
        assert "[SQL" not in everything
        assert "parameters" not in everything
        if case.code == 36:
            assert "sqlite:///" in everything or "postgresql+psycopg://" in everything


def test_every_command_has_a_row_for_each_common_failure() -> None:
    """The table covers usage and --version for all eight, the database for all five."""
    failures: dict[str, set[str]] = {}
    for case in CASES:
        failures.setdefault(case.command, set()).add(case.failure)
    assert set(failures) == set(MAINS)
    for command, seen in failures.items():
        assert {"usage", "version"} <= seen, command
        if command in DATABASE_COMMANDS:
            assert {"database-locked-read", "postgresql-down", "invalid-database-url"} <= seen


def test_created_database_is_announced(tmp_path: Path) -> None:
    """Issue 10 §5: no database configured → one line saying which file was created and how
    to choose another, for every command with a database (run as the installed scripts)."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES)}
    for command, variable in DATABASE_COMMANDS.items():
        cwd = tmp_path / command
        cwd.mkdir()
        name = "vmcaster.db" if command == "vmcaster" else "vmcatcher.db"
        expected = f"WARNING: created new database sqlite:///{cwd / name}; set {variable} or -d"
        for run in ("first", "second"):
            result = subprocess.run(
                [str(bin_dir / command), *_DB_READS[command]],
                cwd=cwd,
                env={**env, "HOME": str(tmp_path)},
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, (command, result.stderr)
            notices = [line for line in result.stderr.splitlines() if "created" in line]
            assert notices == ([expected] if run == "first" else []), (command, run)
        assert (cwd / name).is_file()
