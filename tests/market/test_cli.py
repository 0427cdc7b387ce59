"""``imagelist-market`` admin commands: output, exit codes 80-89, one-line errors, DB unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagelist.cli.imagelist_market import main
from imagelist.db.market import open_database
from imagelist.market.tokens import authenticate_token
from tests.market.support import snapshot


def run(
    capsys: pytest.CaptureFixture[str], home: Path, db: str, *argv: str
) -> tuple[int, str, str]:
    code = main(["--home", str(home), "--database", db, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_admin_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> None:
    home = tmp_path / "home"
    assert run(capsys, home, database_url, "db", "upgrade")[0] == 0
    code, out, _ = run(
        capsys, home, database_url, "person", "create", "Ann Example", "--email", "a@x"
    )
    assert (code, out) == (0, "1\n")
    assert run(capsys, home, database_url, "vo", "create", "vo.example.org", "--gated")[0] == 0
    assert (
        run(capsys, home, database_url, "role", "grant", "vo.example.org", "1", "manager")[0] == 0
    )
    code, out, _ = run(
        capsys,
        home,
        database_url,
        "identity",
        "add",
        "1",
        "--dn",
        "CN=Ann Example,O=Example,DC=org",
        "--issuer",
        "CN=Example CA,DC=org",
    )
    assert code == 0
    assert out == "1\t/DC=org/O=Example/CN=Ann Example\t/DC=org/CN=Example CA\n"
    code, out, _ = run(
        capsys,
        home,
        database_url,
        "token",
        "create",
        "1",
        "--name",
        "site",
        "--scope",
        "vo:vo.example.org:read",
        "--days",
        "7",
    )
    assert code == 0
    secret = out.strip()
    assert re.fullmatch(r"iml_[A-Za-z0-9_-]{43}", secret)
    engine = open_database(database_url)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        assert authenticate_token(session, secret).scopes == ["vo:vo.example.org:read"]
    code, out, _ = run(capsys, home, database_url, "token", "list")
    assert secret not in out
    assert "\tsite\tvo:vo.example.org:read\texpires " in out
    assert run(capsys, home, database_url, "vo", "list")[1] == "vo.example.org\tgated\t\n"
    people = run(capsys, home, database_url, "person", "list")[1]
    assert people == "1\tAnn Example\ta@x\tx509:/DC=org/O=Example/CN=Ann Example\n"
    before = snapshot(engine)
    refusals = [
        (("role", "grant", "nope", "1", "manager"), 81, "no VO 'nope'"),
        (("role", "grant", "vo.example.org", "1", "manager"), 82, "already is manager"),
        (("vo", "create", "vo.example.org"), 82, "already exists"),
        (("vo", "create", "bad name"), 89, "VO name"),
        (("token", "create", "1", "--name", "x", "--scope", "root"), 89, "scope 'root'"),
        (("token", "create", "1", "--name", "site"), 82, "already has a token"),
        (("token", "create", "9", "--name", "x"), 81, "no person"),
        (("token", "create", "1", "--name", "y", "--days", "9999"), 89, "lifetime"),
        (("identity", "add", "1", "--dn", "garbage", "--issuer", "/CN=x"), 89, "not a DN"),
        (("identity", "remove", "7"), 81, "no identity 7"),
        (("role", "revoke", "vo.example.org", "1", "expert"), 81, "is not expert"),
        (("token", "revoke", "99"), 81, "no token 99"),
        (("token", "revoke", str(2**40)), 81, "no token"),
        (("token", "list", "--person", str(2**40)), 81, "no person"),
        (("role", "revoke", "vo.example.org", str(2**40), "expert"), 81, "no person"),
        (("person", "create", "  "), 89, "display name"),
        (("role", "grant", "vo.example.org", "1", "boss"), 1, "invalid choice"),
        (("frobnicate",), 1, "invalid choice"),
    ]
    for argv, expected, words in refusals:
        code, out, err = run(capsys, home, database_url, *argv)
        assert code == expected, (argv, err)
        assert err.count("\n") == 1, err
        assert err.startswith("imagelist-market: error: ")
        assert words in err, (argv, err)
        assert snapshot(engine) == before
    assert run(capsys, home, database_url, "token", "revoke", "1")[0] == 0
    assert (
        run(capsys, home, database_url, "role", "revoke", "vo.example.org", "1", "manager")[0] == 0
    )
    assert run(capsys, home, database_url, "identity", "remove", "1")[0] == 0
    engine.dispose()


def test_embedded_default_needs_no_setup(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMAGELIST_MARKET_HOME", raising=False)
    monkeypatch.delenv("IMAGELIST_MARKET_DATABASE_URL", raising=False)
    assert main(["person", "create", "Ann"]) == 0
    assert capsys.readouterr().out == "1\n"
    assert (tmp_path / "imagelist-market" / "market.db").is_file()
    assert (tmp_path / "imagelist-market" / "data" / "store").is_dir()
    monkeypatch.setenv("IMAGELIST_MARKET_MAX_EXPIRY_MONTHS", "many")
    assert main(["vo", "list"]) == 87
    assert "IMAGELIST_MARKET_MAX_EXPIRY_MONTHS" in capsys.readouterr().err
