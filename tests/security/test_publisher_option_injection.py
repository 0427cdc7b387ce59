"""Attack: a file name that a copy program reads as an option, or that holds a placeholder (17.5).

``vmcaster --upload-image ./--rsh=CMD`` handed ``--rsh=CMD`` to rsync (pathlib drops the
``./``), which runs CMD; ``./-X`` reached dccp as an option; a file named ``x{dest}`` had
``{dest}`` substituted inside it. No rsync or dccp is installed here: stand-ins that parse
their arguments as the real programs do (options first, ``--rsh`` runs a command) show it.
Now every path is absolute and templates are substituted once: the upload works, the file
is published unchanged and no injected command runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.security.publisher_support import (
    IMAGE,
    Publisher,
    image_file,
    publisher,  # noqa: F401
)

# A stand-in for rsync: reads options as rsync does (``--rsh=CMD`` runs CMD through a shell, as
# rsync's remote shell), the remaining arguments are SRC DEST; refuses unknown options.
RSYNC = """#!/usr/bin/env python3
import shutil, subprocess, sys
positional = []
for argument in sys.argv[1:]:
    if argument.startswith("--rsh="):
        subprocess.run(argument[len("--rsh="):], shell=True)
    elif argument.startswith("-"):
        sys.exit(f"rsync: unknown option {argument}")
    else:
        positional.append(argument)
if len(positional) != 2:
    sys.exit(f"rsync: expected SRC DEST, got {positional}")
shutil.copyfile(*positional)
"""

# A stand-in for dccp: ``dccp [options] SRC DEST``; every argument starting with '-' is an option
# (some with a value, as -C 3000 -d 2), an unknown one is an error.
DCCP = """#!/usr/bin/env python3
import shutil, sys
arguments, positional = sys.argv[1:], []
while arguments:
    argument = arguments.pop(0)
    if argument in ("-C", "-d"):
        arguments.pop(0)
    elif argument == "-A":
        pass
    elif argument.startswith("-"):
        sys.exit(f"dccp: unknown option {argument}")
    else:
        positional.append(argument)
if len(positional) != 2:
    sys.exit(f"dccp: expected SRC DEST, got {positional}")
shutil.copyfile(*positional)
"""


def _stand_in(publisher: Publisher, name: str, text: str) -> Path:  # noqa: F811
    directory = publisher.base / "bin"
    directory.mkdir(exist_ok=True)
    program = directory / name
    program.write_text(text)
    program.chmod(0o755)
    publisher.env["PATH"] = f"{directory}:{os.environ['PATH']}"
    return program


def _published(publisher: Publisher) -> list[Path]:  # noqa: F811
    return sorted((publisher.www / "images").iterdir())


def test_rsync_option_in_the_file_name(publisher: Publisher) -> None:  # noqa: F811
    _stand_in(publisher, "rsync", RSYNC)
    publisher.configure(
        "command", f"{publisher.www}/", command=json.dumps(["rsync", "{src}", "{dest}"])
    )
    source = image_file(publisher.base, "--rsh=touch INJECTED")
    result = publisher.run("--select-image", IMAGE, "--upload-image", "./--rsh=touch INJECTED")
    assert result.rc == 0, result.err
    assert not (publisher.base / "INJECTED").exists(), "the file name ran as rsync's --rsh"
    (published,) = _published(publisher)
    assert published.read_bytes() == source.read_bytes()


def test_dest_placeholder_in_the_file_name(publisher: Publisher) -> None:  # noqa: F811
    publisher.configure(
        "command", f"{publisher.www}/", command=json.dumps(["cp", "{src}", "{dest}"])
    )
    source = image_file(publisher.base, "image{dest}")
    result = publisher.run("--select-image", IMAGE, "--upload-image", "image{dest}")
    assert result.rc == 0, result.err
    (published,) = _published(publisher)
    assert published.read_bytes() == source.read_bytes()


def test_dccp_option_in_the_file_name(publisher: Publisher) -> None:  # noqa: F811
    _stand_in(publisher, "dccp", DCCP)
    publisher.configure("gsidcap", f"{publisher.www}/", pdcapPreload='""')
    source = image_file(publisher.base, "-X")
    result = publisher.run("--select-image", IMAGE, "--upload-image", "./-X")
    assert result.rc == 0, result.err
    (published,) = _published(publisher)
    assert published.read_bytes() == source.read_bytes()
    assert published.name.startswith(f"{IMAGE}_")


def test_target_read_as_an_option_is_refused(publisher: Publisher) -> None:  # noqa: F811
    """A relative uriReplace starting with '-' would put the target first: refused (exit 1)."""
    _stand_in(publisher, "rsync", RSYNC)
    publisher.configure("command", "--rsh=touch INJECTED;", command='["rsync", "{src}", "{dest}"]')
    image_file(publisher.base)
    before = publisher.state()
    result = publisher.run("--select-image", IMAGE, "--upload-image", "image.img")
    assert result.rc == 1, result.err
    assert len(result.err_lines) == 1
    assert "would be read as an option" in result.err
    assert not (publisher.base / "INJECTED").exists()
    assert publisher.state() == before
