"""Attack: an ``hv:uri`` with ``..`` (or a symlink in the served tree) writes outside it (17.5).

The endorser's database says where the list and the images go; uriMatch/uriReplace map that URI
to a path. vmcaster 0.0.x (and this one before the fix) joined the URI's path to uriReplace as it
was, so ``https://www.example.org/files/../../outside/x`` wrote beside the web root. Now the
target must stay under uriReplace: exit 99, one line, nothing written anywhere, DB unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.publisher.support import SSH_HOST_ALIAS, SshServer
from tests.security.publisher_support import (
    HOST,
    IMAGE,
    LIST,
    Publisher,
    image_file,
    publisher,  # noqa: F401
    tree,
)

ESCAPES = [
    f"https://{HOST}/files/../../outside/image.list",
    f"https://{HOST}/../outside/image.list",
    f"https://{HOST}/files/%2e%2e/%2e%2e/outside/image.list",
]


def _assert_refused(publisher: Publisher, *args: str) -> str:  # noqa: F811
    before = publisher.state()
    result = publisher.run(*args)
    assert result.rc == 99, result.err
    assert len(result.err_lines) == 1, result.err
    assert "Traceback" not in result.err
    assert publisher.state() == before, "the database and the web root must not change"
    return result.err_lines[0]


@pytest.mark.parametrize("uri", ESCAPES)
def test_list_uri_with_dotdot_is_refused_local(
    publisher: Publisher,  # noqa: F811
    tmp_path: Path,
    uri: str,
) -> None:
    publisher.set_list_uri(uri)
    line = _assert_refused(publisher, "--select-imagelist", LIST, "--upload-imagelist")
    assert line.startswith("vmcaster: error: ")
    assert "outside" in line or "percent-encoded" in line
    assert not (tmp_path / "outside").exists()
    assert list(tmp_path.glob("**/image.list*")) == []


def test_image_uri_with_dotdot_is_refused_local(
    publisher: Publisher,  # noqa: F811
    tmp_path: Path,
) -> None:
    publisher.set_image_uri(f"https://{HOST}/images/../../outside/image.img")
    source = image_file(publisher.base)
    line = _assert_refused(publisher, "--select-image", IMAGE, "--upload-image", str(source))
    assert "leads outside" in line
    assert not (tmp_path / "outside").exists()


def test_symlink_out_of_the_web_root_is_refused_local(
    publisher: Publisher,  # noqa: F811
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (publisher.www / "files" / "link").symlink_to(outside)
    publisher.set_list_uri(f"https://{HOST}/files/link/image.list")
    line = _assert_refused(publisher, "--select-imagelist", LIST, "--upload-imagelist")
    assert f"outside {publisher.www}" in line
    assert list(outside.iterdir()) == []


def test_dotdot_inside_the_root_is_normalised(publisher: Publisher) -> None:  # noqa: F811
    """Not an escape: ``files/x/../image.list`` is published at ``files/image.list``."""
    publisher.set_list_uri(f"https://{HOST}/files/x/../image.list")
    result = publisher.run("--select-imagelist", LIST, "--upload-imagelist")
    assert result.rc == 0, result.err
    assert list(tree(publisher.www)) == ["files/image.list"]


def test_list_uri_with_dotdot_is_refused_scp(
    publisher: Publisher,  # noqa: F811
    sshd: SshServer,
) -> None:
    """The real sshd: nothing is created on the server outside uriReplace."""
    served = sshd.root / "served"
    served.mkdir(exist_ok=True)
    publisher.configure("scp", f"{SSH_HOST_ALIAS}:{served}/")
    publisher.env["VMCASTER_SSH_CONFIG"] = str(sshd.ssh_config)
    publisher.set_list_uri(f"https://{HOST}/../escaped/image.list")
    on_server = tree(sshd.root)
    line = _assert_refused(publisher, "--select-imagelist", LIST, "--upload-imagelist")
    assert "leads outside" in line
    assert tree(sshd.root) == on_server
    assert not (sshd.root / "escaped").exists()
    # and the same section still publishes a URI that stays inside
    publisher.set_list_uri(f"https://{HOST}/image.list")
    result = publisher.run("--select-imagelist", LIST, "--upload-imagelist")
    assert result.rc == 0, result.err
    assert sorted(tree(served)) == ["image.list"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> object:
    from tests.publisher.support import running_sshd

    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
