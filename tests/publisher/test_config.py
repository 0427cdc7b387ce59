"""vmcaster.cfg: where it is looked for, strict validation, URI mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelist.errors import PublishConfigError, UploadHostNotRegisteredError
from imagelist.publisher.config import (
    SYSTEM_CONFIG,
    config_candidates,
    load_config,
    parse_config,
)

PAPER_SECTION = """\
[SERVER NAME]
server = "myserver.org"
protocol = "scp"
uriMatch = "https://myserver.org/"
uriReplace = "user@myserver.org:/var/www/html/"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vmcaster.cfg"
    path.write_text(text)
    return path


def test_the_papers_example(tmp_path: Path) -> None:
    config = parse_config(_write(tmp_path, PAPER_SECTION))
    section = config.section_for("MyServer.org")
    assert section.protocol == "scp"
    assert section.name == "SERVER NAME"
    assert (
        section.remote_path("https://myserver.org/files/image.list")
        == "user@myserver.org:/var/www/html/files/image.list"
    )


def test_candidates(tmp_path: Path) -> None:
    assert config_candidates("x.cfg", {}) == [Path("x.cfg")]
    assert config_candidates(None, {"VMCASTER_CFG": "/e.cfg", "HOME": "/h"}) == [Path("/e.cfg")]
    assert config_candidates(None, {"HOME": "/h"}) == [Path("/h/.vmcaster.cfg"), SYSTEM_CONFIG]
    assert config_candidates(None, {}) == [SYSTEM_CONFIG]


def test_home_file_is_found(tmp_path: Path) -> None:
    (tmp_path / ".vmcaster.cfg").write_text(PAPER_SECTION)
    assert load_config(None, {"HOME": str(tmp_path)}).path == tmp_path / ".vmcaster.cfg"


def test_missing_file_names_what_was_tried(tmp_path: Path) -> None:
    with pytest.raises(PublishConfigError, match=r"tried .*nope\.cfg") as info:
        load_config(str(tmp_path / "nope.cfg"), {})
    assert info.value.exit_code == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[a]\nserver = "h"\nprotocol = "scp"\nuriMatch = "x"\n', r"\[a\] has no key uriReplace"),
        ("[a]\nserver = h\n", r"\[a\] key server is not JSON"),
        (
            '[a]\nserver = "h"\nprotocol = "ftp"\nuriMatch = "x"\nuriReplace = "y"\n',
            r"\[a\] key protocol: unknown protocol 'ftp'",
        ),
        (
            '[a]\nserver = "h"\nprotocol = "egiappdb"\nuriMatch = "x"\nuriReplace = "y"\n',
            "egiappdb is not supported",
        ),
        (
            '[a]\nserver = "h"\nprotocol = "local"\nuriMatch = "("\nuriReplace = "y"\n',
            "uriMatch is not a valid regular expression",
        ),
        (
            '[a]\nserver = "h"\nprotocol = "local"\nuriMatch = "x"\nuriReplace = "y"\nfoo = 1\n',
            "unknown key.*foo",
        ),
        ("[a]\nserver = 3\n", "server must be a non-empty string"),
        ("", "has no server section"),
        ("no section header\n", "not a valid INI file"),
        (
            '[a]\nserver = "h"\nprotocol = "command"\nuriMatch = "x"\nuriReplace = "y"\n',
            r"\[a\] has no key command",
        ),
        (
            '[a]\nserver = "h"\nprotocol = "command"\nuriMatch = "x"\nuriReplace = "y"\n'
            'command = "cp {src} {dest}"\n',
            "JSON list of strings",
        ),
        (
            '[a]\nserver = "h"\nprotocol = "command"\nuriMatch = "x"\nuriReplace = "y"\n'
            'command = ["cp", "{src}"]\n',
            "must use both",
        ),
        (
            '[a]\nserver = "h"\nprotocol = "gsidcap"\nuriMatch = "x"\nuriReplace = "y"\n'
            "pdcapPreload = 1\n",
            "pdcapPreload must be a string",
        ),
        (
            '[a]\nserver = "h"\nprotocol = "local"\nuriMatch = "x"\nuriReplace = "y"\n'
            '[b]\nserver = "H"\nprotocol = "local"\nuriMatch = "x"\nuriReplace = "y"\n',
            r"sections \[a\] and \[b\] both have server",
        ),
    ],
)
def test_strict_validation(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PublishConfigError, match=message) as info:
        parse_config(path)
    assert str(path) in str(info.value) or "tried" in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PublishConfigError, match="cannot read"):
        parse_config(tmp_path)


def test_options_per_protocol(tmp_path: Path) -> None:
    config = parse_config(
        _write(
            tmp_path,
            '[c]\nserver = "c.org"\nprotocol = "command"\nuriMatch = "http://c.org/"\n'
            'uriReplace = "/srv/"\ncommand = ["cp", "{src}", "{dest}"]\n'
            'renameCommand = ["mv", "{src}", "{dest}"]\n'
            '[d]\nserver = "d.org"\nprotocol = "gsidcap"\nuriMatch = "http://d.org/"\n'
            'uriReplace = "gsidcap://d.org/pnfs/"\n',
        )
    )
    assert config.sections["c.org"].options == {
        "command": ("cp", "{src}", "{dest}"),
        "renameCommand": ("mv", "{src}", "{dest}"),
    }
    assert config.sections["d.org"].options["pdcapPreload"] == "/usr/lib64/libpdcap.so.1"


def test_unregistered_host_and_unmatched_uri(tmp_path: Path) -> None:
    config = parse_config(_write(tmp_path, PAPER_SECTION))
    with pytest.raises(
        UploadHostNotRegisteredError, match=r"'other\.org' is not registered"
    ) as info:
        config.section_for("other.org")
    assert info.value.exit_code == 99
    with pytest.raises(UploadHostNotRegisteredError, match="does not match"):
        config.section_for("myserver.org").remote_path("http://myserver.org/x")


def test_bad_replacement_and_degenerate_mapping(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        _write(
            tmp_path,
            '[a]\nserver = "a.org"\nprotocol = "local"\nuriMatch = "http://a.org/"\n'
            'uriReplace = "/srv/\\\\9"\n'
            '[b]\nserver = "b.org"\nprotocol = "local"\nuriMatch = "http://b.org/.*"\n'
            'uriReplace = "/srv/x"\n',
        )
    )
    with pytest.raises(PublishConfigError, match="uriReplace"):
        config.section_for("a.org").remote_path("http://a.org/x")
    assert config.section_for("b.org").remote_path("http://b.org/x") == "/srv/x"
    assert "maps http://b.org/x to uriReplace itself" in caplog.text
