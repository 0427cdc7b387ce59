"""``vmcaster``: the paper's §3.1 session command for command, then failures and protocols.

The session runs against a ``local`` vmcaster.cfg on SQLite (the default ``vmcaster.db`` in the
working directory) and on a real PostgreSQL server. The published list is checked by
``openssl smime -verify -crl_check_all`` (the oracle) and parsed back.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID

from imagelist.cli.vmcaster import main
from imagelist.document import ImageList, parse_date
from tests.pki import TestPki, make_endorser, openssl_smime_verify
from tests.publisher.support import (
    SSH_HOST_ALIAS,
    Result,
    SshServer,
    fresh_postgres_database,
    local_config,
    run_vmcaster_process,
    running_sshd,
)

LIST = "dfc470ab-0845-4c3b-bc6a-02f990388a17"  # the paper's uuidgen output
IMAGE = "8fd4c1e4-7e0c-4a5e-9f0d-2b7f3c4d5e6f"
PAPER_DN = "/DC=es/DC=irisgrid/O=cesga/CN=alvarosimon"

# The paper's listing, verbatim. It was typeset with a 2-space indent; vmcaster's code
# (json.dumps(..., indent=4)) printed 4, and so do we: see _reindent.
PAPER_SHOW_IMAGELIST = """\
{
  "hv:imagelist": {
    "dc:identifier": "dfc470ab-0845-4c3b-bc6a-02f990388a17"
  }
}
"""

VMCASTER_ENV = (
    "VMCASTER_RDBMS",
    "VMCASTER_CFG",
    "VMCASTER_X509_DIR",
    "VMCASTER_X509_CERT",
    "VMCASTER_X509_KEY",
    "VMCASTER_X509_KEY_PASSPHRASE_FILE",
    "VMCASTER_IMAGELIST_LIFETIME",
    "VMCASTER_LOG_CONF",
    "VMCASTER_SSH_CONFIG",
    "VMCATCHER_DIR_CERT",
    "X509_CERT_DIR",
)


def _reindent(text: str, factor: int = 2) -> str:
    """Multiply each line's leading spaces (the paper's 2-space JSON → vmcaster's 4)."""
    return "".join(
        " " * (factor * (len(line) - len(line.lstrip(" ")))) + line.lstrip(" ")
        for line in text.splitlines(keepends=True)
    )


@dataclass
class Endorser:
    """One endorser's working directory: database, vmcaster.cfg, web root, credentials."""

    base: Path
    www: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    pki: TestPki
    env: dict[str, str]

    def __call__(self, *args: str, **env: str) -> Result:
        """Run ``vmcaster ARGS`` in this process (``env`` for this call only).

        Logging goes to pytest here, so ``err`` is exactly the command's own error output.
        """
        with self.monkeypatch.context() as patch:
            for name, value in {**self.env, **env}.items():
                patch.setenv(name, value)
            self.capsys.readouterr()
            rc = main(list(args))
            out, err = self.capsys.readouterr()
        return Result(rc, out, err)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.rc == 0, result.err
        return result.out

    def process(self, *args: str, stdin: bytes | None = None, **env: str) -> Result:
        """Run vmcaster as a separate process (one-line stderr checks)."""
        return run_vmcaster_process(list(args), {**self.env, **env}, self.base, stdin)

    def show(self, kind: str, selection: str) -> dict[str, object]:
        shown: dict[str, object] = json.loads(
            self.ok(f"--select-{kind}", selection, f"--show-{kind}")
        )
        return shown


@pytest.fixture
def endorser(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    test_pki: TestPki,
) -> Endorser:
    for name in VMCASTER_ENV:
        monkeypatch.delenv(name, raising=False)
    base = tmp_path / "endorser"
    www = tmp_path / "www"
    for directory in (base, www / "files", www / "images"):
        directory.mkdir(parents=True)
    monkeypatch.chdir(base)
    config = local_config(
        base / "vmcaster.cfg", "cloud.cesga.es", "(?i)http://cloud\\\\.cesga\\\\.es/", www
    )
    env = {
        "HOME": str(base),
        "VMCASTER_CFG": str(config),
        "VMCASTER_X509_CERT": str(test_pki.cert_path("good")),
        "VMCASTER_X509_KEY": str(test_pki.key_path("good")),
    }
    return Endorser(base, www, monkeypatch, capsys, test_pki, env)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, endorser: Endorser) -> Iterator[str]:
    """The session's database: the default ./vmcaster.db, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield "sqlite:///vmcaster.db"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        endorser.env["VMCASTER_RDBMS"] = url
        yield url


def _prepare_list(run: Endorser, *, dn: str | None = None, image: bool = True) -> None:
    """A publishable list (the paper's keys plus the required ones it does not show)."""
    pki = run.pki
    dn = dn or pki.good.subject_oneline
    run.ok("--select-imagelist", LIST, "--add-imagelist")
    for key, value in (
        ("dc:title", "New image list"),
        ("dc:source", "CESGA"),
        ("dc:description", "My image list for internal users"),
        ("hv:uri", "http://Cloud.cesga.es/files/image.list"),
    ):
        run.ok(
            "--select-imagelist", LIST, "--key-set-imagelist", key, "--key-value-imagelist", value
        )
    run.ok("--select-endorser", dn, "--add-endorser")
    for key, value in (
        ("dc:creator", "Alvaro Simon"),
        ("hv:ca", pki.good.issuer_oneline),
        ("hv:email", "grid-admin@cesga.es"),
    ):
        run.ok("--select-endorser", dn, "--key-set-endorser", key, "--key-value-endorser", value)
    run.ok("--select-imagelist", LIST, "--select-endorser", dn, "--imagelist-add-endorser")
    if not image:
        return
    run.ok("--select-image", IMAGE, "--add-image")
    for key, value in (
        ("dc:title", "Debian 6.0.5 x86_64 base"),
        ("dc:description", "A base Debian image"),
        ("sl:comments", "root login with your ssh key"),
        ("sl:osversion", "6.0.5"),
        ("sl:arch", "x86_64"),
        ("sl:os", "Debian"),
        ("hv:uri", "http://Cloud.cesga.es/images/debian-6.0.5-x86_64-base.qcow2"),
        ("hv:format", "QCOW2"),
        ("hv:hypervisor", "KVM"),
    ):
        run.ok("--select-image", IMAGE, "--key-set-image", key, "--key-value-image", value)
    run.ok("--select-imagelist", LIST, "--imagelist-add-image", "--select-image", IMAGE)


def _image_file(run: Endorser, size: int = 5 * 1024 * 1024 + 123) -> Path:
    path = run.base / "debian-6.0.5-x86_64-base.qcow2"
    path.write_bytes(os.urandom(size))
    return path


def _published(run: Endorser) -> bytes:
    return (run.www / "files" / "image.list").read_bytes()


# --- the paper's session --------------------------------------------------------------------------


def test_papers_session(endorser: Endorser, database: str, openssl: str) -> None:
    run = endorser
    pki = run.pki
    # $ vmcaster --select-imagelist dfc470ab-... --add-imagelist
    run.ok("--select-imagelist", LIST, "--add-imagelist")
    # $ vmcaster --select-imagelist dfc470ab-... --show-imagelist
    shown = run.ok("--select-imagelist", LIST, "--show-imagelist")
    assert json.loads(shown) == json.loads(PAPER_SHOW_IMAGELIST)
    assert shown == _reindent(PAPER_SHOW_IMAGELIST)
    if database.startswith("sqlite"):
        assert (run.base / "vmcaster.db").is_file()  # the default: ./vmcaster.db
    # The paper's --key-set-imagelist commands. (Its listing runs `"dc:title"\` into the next
    # line, which a shell would join; they are given here as the text clearly means them.)
    for key, value in (
        ("dc:title", "New image list"),
        ("dc:source", "CESGA"),
        ("dc:description", "My image list for internal users"),
        ("hv:uri", "http://Cloud.cesga.es/files/image.list"),
    ):
        run.ok(
            "--select-imagelist", LIST, "--key-set-imagelist", key, "--key-value-imagelist", value
        )
    # The endorser: the paper shows only dc:creator for its DN. Signing needs the signer's own
    # DN, so the test PKI's "good" endorser stands in; adding it, its hv:ca and hv:email and
    # the link are the steps the paper leaves out.
    dn = pki.good.subject_oneline
    run.ok("--select-endorser", dn, "--add-endorser")
    run.ok(
        "--select-endorser",
        dn,
        "--key-set-endorser",
        "dc:creator",
        "--key-value-endorser",
        "Alvaro Simon",
    )
    run.ok(
        "--select-endorser",
        dn,
        "--key-set-endorser",
        "hv:ca",
        "--key-value-endorser",
        pki.good.issuer_oneline,
    )
    run.ok(
        "--select-endorser",
        dn,
        "--key-set-endorser",
        "hv:email",
        "--key-value-endorser",
        "grid-admin@cesga.es",
    )
    run.ok("--select-imagelist", LIST, "--select-endorser", dn, "--imagelist-add-endorser")
    # The image: a new UUID and the keys the paper lists (plus the two it does not:
    # dc:description and hv:hypervisor; size, checksum and version come from the upload).
    run.ok("--select-image", IMAGE, "--add-image")
    for key, value in (
        ("dc:title", "Debian 6.0.5 x86_64 base"),
        ("sl:comments", "root login with your ssh key"),
        ("sl:osversion", "6.0.5"),
        ("sl:arch", "x86_64"),
        ("sl:os", "Debian"),
        ("hv:uri", "http://Cloud.cesga.es/images/debian-6.0.5-x86_64-base.qcow2"),
        ("hv:format", "QCOW2"),
        ("dc:description", "A base Debian image"),
        ("hv:hypervisor", "KVM"),
    ):
        run.ok("--select-image", IMAGE, "--key-set-image", key, "--key-value-image", value)
    # $ vmcaster --select-imagelist <IMAGE_LIST_UUID> \
    #   --imagelist-add-image --select-image <IMAGE_UUID>
    run.ok("--select-imagelist", LIST, "--imagelist-add-image", "--select-image", IMAGE)
    # vmcaster --upload-image <local_image_path> --select-image <IMAGE_UUID>
    image_file = _image_file(run)
    before = datetime.now(UTC).replace(microsecond=0)
    out = run.ok("--upload-image", str(image_file), "--select-image", IMAGE)
    assert "version 0.0.1" in out
    image = run.show("image", IMAGE)
    data = image_file.read_bytes()
    assert image["hv:size"] == len(data)
    assert image["sl:checksum:sha512"] == hashlib.sha512(data).hexdigest()
    assert image["hv:version"] == "0.0.1"
    uri = str(image["hv:uri"])
    match = re.fullmatch(
        rf"http://cloud\.cesga\.es/images/{IMAGE}_(\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d)\.QCOW2", uri
    )
    assert match is not None, uri
    stamp = datetime.strptime(match.group(1), "%Y-%m-%d_%H-%M-%S").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)
    published_image = run.www / "images" / uri.rsplit("/", 1)[1]
    assert published_image.read_bytes() == data
    # The same file again: unchanged, nothing uploaded, exit 0.
    out = run.ok("--upload-image", str(image_file), "--select-image", IMAGE)
    assert "unchanged" in out
    assert sorted(p.name for p in (run.www / "images").iterdir()) == [published_image.name]
    assert run.show("image", IMAGE)["hv:version"] == "0.0.1"
    # $ vmcaster --select-imagelist <IMAGE_LIST_UUID> --upload-imagelist
    out = run.ok("--select-imagelist", LIST, "--upload-imagelist")
    assert "version 0.0.1 published at http://Cloud.cesga.es/files/image.list" in out
    signed = _published(run)
    verified = openssl_smime_verify(openssl, signed, pki.trust_dir)
    assert verified.returncode == 0, verified.stderr.decode()
    payload = verified.stdout.replace(b"\r\n", b"\n")
    imagelist = ImageList.from_bytes(payload)
    assert imagelist.identifier == LIST
    assert imagelist.title == "New image list"
    assert imagelist.source == "CESGA"
    assert imagelist.version == "0.0.1"
    assert imagelist.endorser.dn == pki.good.subject_oneline
    assert imagelist.endorser.ca == pki.good.issuer_oneline
    assert imagelist.endorser.creator == "Alvaro Simon"
    assert imagelist.expires - imagelist.created == timedelta(days=28)
    assert [i.identifier for i in imagelist.images] == [IMAGE]
    assert imagelist.images[0].sha512 == hashlib.sha512(data).hexdigest()
    assert imagelist.images[0].uri == uri
    assert not imagelist.dropped_images
    # What was signed is what --show-imagelist now prints, byte for byte.
    shown = run.ok("--select-imagelist", LIST, "--show-imagelist")
    assert payload + b"\n" == shown.encode()
    stored = run.show("imagelist", LIST)["hv:imagelist"]
    assert isinstance(stored, dict)
    assert stored["hv:version"] == "0.0.1"
    assert parse_date(stored["dc:date:created"]) == imagelist.created
    # Publishing again: a new version, the file replaced in place, no temporary left.
    run.ok("--select-imagelist", LIST, "--upload-imagelist", "--lifetime-imagelist", "7")
    again = ImageList.from_bytes(
        openssl_smime_verify(openssl, _published(run), pki.trust_dir).stdout
    )
    assert again.version == "0.0.2"
    assert again.expires - again.created == timedelta(days=7)
    assert [p.name for p in (run.www / "files").iterdir()] == ["image.list"]


# --- the CLI surface ------------------------------------------------------------------------------


def test_usage_errors_are_one_line_exit_1(endorser: Endorser) -> None:
    for args in (
        ["--no-such-option"],
        [],
        ["--list-imagelist", "--list-image"],
        ["--show-imagelist"],
        ["--key-value-image", "x", "--select-image", IMAGE],
        ["--key-set-image", "k", "--select-image", IMAGE],
        ["--lifetime-imagelist", "x", "--upload-imagelist", "--select-imagelist", LIST],
    ):
        result = endorser(*args)
        assert result.rc == 1, (args, result)
        assert len(result.err_lines) == 1, (args, result.err)
        assert result.err_lines[0].startswith("vmcaster: error: ")
    # The same, as a process: stderr is exactly that one line.
    result = endorser.process("--list-imagelist", "--list-image")
    assert (result.rc, result.err_lines) == (
        1,
        ["vmcaster: error: too many actions: --list-imagelist, --list-image; give one"],
    )
    result = endorser.process("--no-such-option")
    assert (result.rc, result.err_lines) == (
        1,
        ["vmcaster: error: unrecognized arguments: --no-such-option (see vmcaster --help)"],
    )
    result = endorser.process()
    assert (result.rc, result.err_lines) == (
        1,
        ["vmcaster: error: no action given (see vmcaster --help)"],
    )


def test_help_says_where_the_database_is(endorser: Endorser) -> None:
    result = endorser.process("--help")
    assert result.rc == 0
    assert "sqlite:///vmcaster.db" in result.out
    assert "current working directory" in result.out


def test_config_file_only_needed_for_uploads(endorser: Endorser) -> None:
    """vmcaster 0.0.x refused every action without a config file (exit 1)."""
    env = {"VMCASTER_CFG": str(endorser.base / "missing.cfg")}
    assert endorser("--select-imagelist", LIST, "--add-imagelist", **env).rc == 0
    assert endorser("--list-imagelist", **env).out == f"{LIST}\n"
    result = endorser("--select-imagelist", LIST, "--upload-imagelist", **env)
    assert result.rc == 1
    assert "missing.cfg" in result.err_lines[0]


def test_objects_keys_and_links(endorser: Endorser) -> None:
    run = endorser
    _prepare_list(run)
    assert run.ok("--list-imagelist") == f"{LIST}\n"
    assert run.ok("--list-image") == f"{IMAGE}\n"
    assert run.ok("--list-endorser") == f"{run.pki.good.subject_oneline}\n"
    assert run.ok("--select-imagelist", LIST, "--imagelist-list-image") == f"{IMAGE}\n"
    assert run.ok("--select-imagelist", LIST, "--imagelist-list-endorser") == (
        f"{run.pki.good.subject_oneline}\n"
    )
    # --keys-* works (0.0.x queried a column that does not exist)
    assert run.ok("--select-imagelist", LIST, "--keys-imagelist").split() == [
        "dc:description",
        "dc:source",
        "dc:title",
        "hv:uri",
    ]
    assert "sl:arch" in run.ok("--select-image", IMAGE, "--keys-image").split()
    dn = run.pki.good.subject_oneline
    assert run.ok("--select-endorser", dn, "--keys-endorser").split() == [
        "dc:creator",
        "hv:ca",
        "hv:email",
    ]
    # --key-del-endorser works (0.0.x: "not implemented yet")
    run.ok("--select-endorser", dn, "--key-del-endorser", "hv:email")
    assert "hv:email" not in run.show("endorser", dn)
    run.ok("--select-image", IMAGE, "--key-del-image", "hv:format")
    run.ok("--select-imagelist", LIST, "--key-del-imagelist", "dc:source")
    assert "dc:source" not in run.show("imagelist", LIST)["hv:imagelist"]  # type: ignore[operator]
    # a value from a file, and the file replacing --key-value-*
    value = run.base / "description.txt"
    value.write_text("from\na file\n")
    run.ok(
        "--select-imagelist",
        LIST,
        "--key-set-imagelist",
        "dc:description",
        "--key-value-imagelist",
        "ignored",
        "--key-value-imagelist-file",
        str(value),
    )
    shown = run.show("imagelist", LIST)["hv:imagelist"]
    assert shown["dc:description"] == "from\na file\n"  # type: ignore[index]
    bad = run("--select-image", IMAGE, "--key-set-image", "k", "--key-value-image-file", "/nope")
    assert bad.rc == 1
    assert "cannot read --key-value-image-file /nope" in bad.err
    # unlink, delete
    run.ok("--select-imagelist", LIST, "--select-image", IMAGE, "--imagelist-del-image")
    assert run.ok("--select-imagelist", LIST, "--imagelist-list-image") == ""
    run.ok("--select-imagelist", LIST, "--select-endorser", dn, "--imagelist-del-endorser")
    run.ok("--del-endorser", dn)
    assert run.ok("--list-endorser") == ""
    run.ok("--select-image", IMAGE, "--del-image")
    run.ok("--select-imagelist", LIST, "--del-imagelist")
    assert run.ok("--list-imagelist") == ""
    missing = run("--select-image", IMAGE, "--show-image")
    assert missing.rc == 1
    assert f"image '{IMAGE}' does not exist" in missing.err


def test_progress_line_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagelist.cli import vmcaster

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = vmcaster._progress("vmcaster: x.img", 100)
    assert progress is not None
    for done in (10, 20, 100):
        progress(done)
    progress.close()
    progress.close()
    assert terminal.getvalue().startswith("\rvmcaster: x.img:  10%")
    assert terminal.getvalue().rsplit("\r", 1)[1].startswith("vmcaster: x.img: 100% ")
    assert terminal.getvalue().endswith(" MiB/s\n")
    assert terminal.getvalue().count("\n") == 1
    assert " 20%" not in terminal.getvalue()  # throttled
    assert vmcaster._progress("x", 0) is None


def test_del_endorser_with_selection(endorser: Endorser) -> None:
    endorser.ok("--select-endorser", PAPER_DN, "--add-endorser")
    endorser.ok("--select-endorser", PAPER_DN, "--del-endorser")
    assert endorser.ok("--list-endorser") == ""


# --- publishing failures --------------------------------------------------------------------------


def test_transfer_failure_changes_nothing(endorser: Endorser) -> None:
    run = endorser
    _prepare_list(run)
    run.ok("--upload-image", str(_image_file(run)), "--select-image", IMAGE)
    run.ok("--select-imagelist", LIST, "--upload-imagelist")
    old_list = _published(run)
    old_keys = run.show("imagelist", LIST)
    old_image = run.show("image", IMAGE)
    failing = run.base / "failing.cfg"
    failing.write_text(
        "[web]\n"
        'server = "cloud.cesga.es"\n'
        'protocol = "command"\n'
        'uriMatch = "(?i)http://cloud\\\\.cesga\\\\.es/"\n'
        f'uriReplace = "{run.www}/"\n'
        'command = ["false", "{src}", "{dest}"]\n'
    )
    result = run.process(  # a real process: its whole stderr is the one line
        "--select-imagelist", LIST, "--upload-imagelist", VMCASTER_CFG=str(failing)
    )
    assert result.rc == 77
    assert result.err_lines == [
        f"vmcaster: error: command upload to {run.www}/files/image.list: false exited with 1: "
        "no error output"
    ]
    assert _published(run) == old_list
    assert run.show("imagelist", LIST) == old_keys
    other = _image_file(run, 1000)
    result = run("--upload-image", str(other), "--select-image", IMAGE, VMCASTER_CFG=str(failing))
    assert result.rc == 77
    assert len(result.err_lines) == 1
    assert run.show("image", IMAGE) == old_image


def test_missing_keys_are_named(endorser: Endorser) -> None:
    run = endorser
    _prepare_list(run)
    run.ok("--select-imagelist", LIST, "--key-del-imagelist", "dc:source")
    run.ok("--select-image", IMAGE, "--key-del-image", "sl:arch")
    run.ok("--select-endorser", run.pki.good.subject_oneline, "--key-del-endorser", "hv:email")
    assert run.process("--select-imagelist", LIST, "--upload-imagelist").err_lines == (
        run("--select-imagelist", LIST, "--upload-imagelist").err_lines
    )
    result = run("--select-imagelist", LIST, "--upload-imagelist")
    assert result.rc == 20
    assert len(result.err_lines) == 1
    line = result.err_lines[0]
    assert f"image list {LIST}: dc:source" in line
    assert f"image {IMAGE}: hv:size, sl:checksum:sha512, sl:arch, hv:version" in line
    assert f"endorser {run.pki.good.subject_oneline}: hv:email" in line
    assert not _published_exists(run)


def _published_exists(run: Endorser) -> bool:
    return (run.www / "files" / "image.list").exists()


def test_endorser_certificate_mismatch_shows_both(endorser: Endorser) -> None:
    run = endorser
    _prepare_list(run, dn=PAPER_DN, image=False)
    assert len(run.process("--select-imagelist", LIST, "--upload-imagelist").err_lines) == 1
    result = run("--select-imagelist", LIST, "--upload-imagelist")
    assert result.rc == 20
    assert len(result.err_lines) == 1
    assert PAPER_DN in result.err
    assert run.pki.good.subject_oneline in result.err
    assert run.pki.good.issuer_oneline in result.err
    # Right DN, wrong CA
    run.ok("--select-endorser", PAPER_DN, "--del-endorser")
    _prepare_list(run, image=False)
    dn = run.pki.good.subject_oneline
    run.ok(
        "--select-endorser",
        dn,
        "--key-set-endorser",
        "hv:ca",
        "--key-value-endorser",
        "/CN=Other CA",
    )
    result = run("--select-imagelist", LIST, "--upload-imagelist")
    assert result.rc == 20
    assert "'/CN=Other CA'" in result.err
    assert run.pki.good.issuer_oneline in result.err


def test_empty_list_is_published_with_empty_images(endorser: Endorser, openssl: str) -> None:
    """Decommissioning: 0.0.x left hv:images out of an empty list, which subscribers reject."""
    _prepare_list(endorser, image=False)
    endorser.ok("--select-imagelist", LIST, "--upload-imagelist", "--digest", "sha1")
    verified = openssl_smime_verify(openssl, _published(endorser), endorser.pki.trust_dir)
    assert verified.returncode == 0
    assert ImageList.from_bytes(verified.stdout).images == ()
    assert b'micalg="sha1"' in _published(endorser)


def test_encrypted_key(endorser: Endorser) -> None:
    run = endorser
    _prepare_list(run, image=False)
    key = run.base / "userkey.pem"
    key.write_bytes(
        run.pki.good.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(b"right horse"),
        )
    )
    key.chmod(0o600)
    run.env["VMCASTER_X509_KEY"] = str(key)
    wrong = run.base / "wrong"
    wrong.write_text("battery staple\n")
    wrong.chmod(0o600)
    result = run.process(
        "--select-imagelist",
        LIST,
        "--upload-imagelist",
        VMCASTER_X509_KEY_PASSPHRASE_FILE=str(wrong),
    )
    assert result.rc == 24
    assert result.err_lines == [
        f"vmcaster: error: cannot decrypt private key {key}: wrong passphrase"
    ]
    result = run("--select-imagelist", LIST, "--upload-imagelist")  # no terminal
    assert result.rc == 24
    assert "VMCASTER_X509_KEY_PASSPHRASE_FILE" in result.err_lines[0]
    right = run.base / "right"
    right.write_text("right horse\n")
    right.chmod(0o600)
    result = run(
        "--select-imagelist",
        LIST,
        "--upload-imagelist",
        VMCASTER_X509_KEY_PASSPHRASE_FILE=str(right),
    )
    assert result.rc == 0, result.err
    assert _published_exists(run)


def test_credential_errors(endorser: Endorser, tmp_path: Path) -> None:
    run = endorser
    _prepare_list(run, image=False)
    pki = run.pki
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"VMCASTER_X509_KEY": str(tmp_path / "nokey.pem")}, 23, "signing key not found"),
        ({"VMCASTER_X509_CERT": str(tmp_path / "nocert.pem")}, 23, "signing certificate not found"),
        ({"VMCASTER_X509_CERT": str(pki.cert_path("wrong_key_usage"))}, 32, "digitalSignature"),
        ({"VMCASTER_X509_KEY": str(pki.key_path("direct"))}, 24, "does not belong to certificate"),
        ({"VMCASTER_X509_CERT": str(pki.key_path("good"))}, 24, "is not an X.509 certificate"),
    ]
    no_usage = make_endorser(
        pki.intermediate,
        pki.good.subject_oneline,
        not_before=pki.now - timedelta(days=1),
        not_after=pki.now + timedelta(days=1),
        key_usage=None,
        key=pki.good.key,
    )
    cert_path, _ = no_usage.write(tmp_path / "no_usage")
    cases.append(({"VMCASTER_X509_CERT": str(cert_path)}, 31, "no keyUsage extension"))
    # A keyUsage that is not a BIT STRING: cryptography parses it only when it is read.
    malformed = (
        x509.CertificateBuilder()
        .subject_name(pki.good.cert.subject)
        .issuer_name(pki.intermediate.cert.subject)
        .public_key(pki.good.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.now - timedelta(days=1))
        .not_valid_after(pki.now + timedelta(days=1))
        .add_extension(x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, b"\x05\x00"), True)
        .sign(pki.intermediate.key, hashes.SHA256())
    )
    malformed_path = tmp_path / "malformed.pem"
    malformed_path.write_bytes(malformed.public_bytes(serialization.Encoding.PEM))
    cases.append(({"VMCASTER_X509_CERT": str(malformed_path)}, 24, f"certificate {malformed_path}"))
    for env, rc, message in cases:
        result = run("--select-imagelist", LIST, "--upload-imagelist", **env)
        assert (result.rc, len(result.err_lines)) == (rc, 1), (env, result.err)
        assert message in result.err, (env, result.err)


def test_credentials_from_the_x509_dir(endorser: Endorser) -> None:
    run = endorser
    _prepare_list(run, image=False)
    globus = run.base / "globus"
    globus.mkdir()
    (globus / "usercert.pem").write_bytes(run.pki.good.cert_pem)
    (globus / "userkey.pem").write_bytes(run.pki.good.key_pem)
    (globus / "userkey.pem").chmod(0o400)
    del run.env["VMCASTER_X509_CERT"]
    del run.env["VMCASTER_X509_KEY"]
    assert run("--select-imagelist", LIST, "--upload-imagelist").rc == 23  # no ~/.globus
    result = run("--select-imagelist", LIST, "--upload-imagelist", "--x509-dir", str(globus))
    assert result.rc == 0, result.err
    result = run(
        "--select-imagelist",
        LIST,
        "--upload-imagelist",
        "--x509-cert",
        str(globus / "usercert.pem"),
        "--x509-key",
        str(globus / "userkey.pem"),
        HOME="",
    )
    assert result.rc == 0, result.err
    result = run("--select-imagelist", LIST, "--upload-imagelist", HOME="")
    assert (result.rc, result.err_lines[0]) == (
        21,
        "vmcaster: error: no signing key: give --x509-key, set VMCASTER_X509_KEY or "
        "VMCASTER_X509_DIR",
    )


def test_image_upload_errors(endorser: Endorser) -> None:
    run = endorser
    _prepare_list(run)
    image_file = _image_file(run, 10)
    run.ok("--select-image", "lonely", "--add-image")
    result = run("--upload-image", str(image_file), "--select-image", "lonely")
    assert (result.rc, len(result.err_lines)) == (45, 1)
    run.ok("--select-image", IMAGE, "--key-del-image", "hv:uri")
    result = run("--upload-image", str(image_file), "--select-image", IMAGE)
    assert (result.rc, len(result.err_lines)) == (13, 1)
    run.ok(
        "--select-image",
        IMAGE,
        "--key-set-image",
        "hv:uri",
        "--key-value-image",
        "http://elsewhere.org/x.img",
    )
    result = run("--upload-image", str(image_file), "--select-image", IMAGE)
    assert (result.rc, len(result.err_lines)) == (99, 1)
    assert "'elsewhere.org' is not registered" in result.err
    result = run("--upload-image", str(run.base / "nope"), "--select-image", IMAGE)
    assert (result.rc, len(result.err_lines)) == (1, 1)


def test_lifetime_from_environment(endorser: Endorser) -> None:
    _prepare_list(endorser, image=False)
    endorser.env["VMCASTER_IMAGELIST_LIFETIME"] = "3"
    endorser.ok("--select-imagelist", LIST, "--upload-imagelist")
    stored = endorser.show("imagelist", LIST)["hv:imagelist"]
    assert isinstance(stored, dict)
    created, expires = parse_date(stored["dc:date:created"]), parse_date(stored["dc:date:expires"])
    assert expires - created == timedelta(days=3)
    endorser.env["VMCASTER_IMAGELIST_LIFETIME"] = "0"
    result = endorser("--select-imagelist", LIST, "--upload-imagelist")
    assert result.rc == 1
    assert "too short" in result.err


# --- importing ------------------------------------------------------------------------------------


def _publish(run: Endorser) -> bytes:
    _prepare_list(run)
    run.ok("--upload-image", str(_image_file(run, 1000)), "--select-image", IMAGE)
    run.ok("--select-imagelist", LIST, "--upload-imagelist")
    return _published(run)


def test_import_smime_verifies(endorser: Endorser) -> None:
    run = endorser
    signed = _publish(run)
    original = run.ok("--select-imagelist", LIST, "--show-imagelist")
    signed_file = run.base / "image.list"
    signed_file.write_bytes(signed)
    other = "sqlite:///other.db"
    trust = str(run.pki.trust_dir)
    out = run.ok("-d", other, "--import-imagelist-smime", str(signed_file), "--cert-dir", trust)
    assert out == f"{LIST}\n"
    assert run.ok("-d", other, "--select-imagelist", LIST, "--show-imagelist") == original
    tampered = run.base / "tampered.list"
    tampered.write_bytes(signed.replace(b"New image list", b"Old image list"))
    result = run(
        "-d", "sqlite:///third.db", "--import-imagelist-smime", str(tampered), "--cert-dir", trust
    )
    assert (result.rc, len(result.err_lines)) == (11, 1)
    # The default trust directory does not exist here: refused, unless --no-verify.
    result = run("-d", "sqlite:///third.db", "--import-imagelist-smime", str(signed_file))
    assert result.rc != 0
    assert len(result.err_lines) == 1
    result = run.process(  # a process, to see the warning on stderr
        "-d", "sqlite:///third.db", "--import-imagelist-smime", str(signed_file), "--no-verify"
    )
    assert result.rc == 0
    assert "NOT verified" in result.err


def test_import_json(endorser: Endorser) -> None:
    run = endorser
    document = {
        "hv:imagelist": {
            "dc:identifier": LIST,
            "dc:title": "imported",
            "hv:version": "1.0",
            "hv:images": [{"hv:image": {"dc:identifier": IMAGE, "hv:size": 3, "hv:version": "1"}}],
            "hv:endorser": {"hv:x509": {"hv:dn": PAPER_DN, "dc:creator": "Alvaro Simon"}},
        }
    }
    path = run.base / "list.json"
    path.write_text(json.dumps(document))
    run.ok("--import-imagelist-json", str(path))
    assert run.show("imagelist", LIST) == document
    for content, rc in ((b"{not json", 20), (b"null", 21), (b"[]", 20)):
        path.write_bytes(content)
        result = run("--import-imagelist-json", str(path))
        assert (result.rc, len(result.err_lines)) == (rc, 1), result.err


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log on stderr."""


@pytest.fixture
def web_server(endorser: Endorser) -> Iterator[str]:
    handler = partial(_QuietHandler, directory=str(endorser.www))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_imagelist(endorser: Endorser, web_server: str) -> None:
    run = endorser
    original = _publish(run)
    assert original
    other = "sqlite:///downloaded.db"
    run.ok("-d", other, "--select-imagelist", LIST, "--add-imagelist")
    run.ok(
        "-d",
        other,
        "--select-imagelist",
        LIST,
        "--key-set-imagelist",
        "hv:uri",
        "--key-value-imagelist",
        f"{web_server}/files/image.list",
    )
    out = run.ok(
        "-d",
        other,
        "--select-imagelist",
        LIST,
        "--download-imagelist",
        "--cert-dir",
        str(run.pki.trust_dir),
    )
    assert out == f"{LIST}\n"
    downloaded = run.show("imagelist", LIST)
    run.env["VMCASTER_RDBMS"] = other
    assert run.show("imagelist", LIST) == downloaded
    run.ok(
        "--select-imagelist",
        LIST,
        "--key-set-imagelist",
        "hv:uri",
        "--key-value-imagelist",
        f"{web_server}/missing",
    )
    result = run("--select-imagelist", LIST, "--download-imagelist", "--no-verify")
    assert (result.rc, len(result.err_lines)) == (22, 1), result.err
    assert "HTTP 404" in result.err


# --- scp against OpenSSH --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd-cli")) as server:
        yield server


@pytest.mark.peer
def test_papers_publication_over_scp(endorser: Endorser, sshd: SshServer, openssl: str) -> None:
    run = endorser
    (sshd.root / "files").mkdir()
    (sshd.root / "images").mkdir()
    config = run.base / "scp.cfg"
    config.write_text(
        "[SERVER NAME]\n"
        'server = "cloud.cesga.es"\n'
        'protocol = "scp"\n'
        'uriMatch = "(?i)http://cloud\\\\.cesga\\\\.es/"\n'
        f'uriReplace = "{SSH_HOST_ALIAS}:{sshd.root}/"\n'
    )
    run.env["VMCASTER_CFG"] = str(config)
    run.env["VMCASTER_SSH_CONFIG"] = str(sshd.ssh_config)
    _prepare_list(run)
    image_file = _image_file(run, 3 * 1024 * 1024)
    run.ok("--upload-image", str(image_file), "--select-image", IMAGE)
    uri = str(run.show("image", IMAGE)["hv:uri"])
    assert (sshd.root / "images" / uri.rsplit("/", 1)[1]).read_bytes() == image_file.read_bytes()
    for version in ("0.0.1", "0.0.2"):
        run.ok("--select-imagelist", LIST, "--upload-imagelist")
        signed = (sshd.root / "files" / "image.list").read_bytes()
        verified = openssl_smime_verify(openssl, signed, run.pki.trust_dir)
        assert verified.returncode == 0
        assert ImageList.from_bytes(verified.stdout).version == version
    assert [p.name for p in (sshd.root / "files").iterdir()] == ["image.list"]
    # The server refuses (its directory is gone): exit 77, one line, nothing changed.
    before = run.show("imagelist", LIST)
    (sshd.root / "files" / "image.list").rename(sshd.root / "kept.list")
    (sshd.root / "files").rmdir()
    result = run("--select-imagelist", LIST, "--upload-imagelist")
    assert (result.rc, len(result.err_lines)) == (77, 1), result.err
    assert "scp upload to" in result.err
    assert run.show("imagelist", LIST) == before
