"""End to end (issue 14): vmcaster publishes the list signed both ways, a ``smime+openpgp``
subscription accepts it, and refuses it once ``image.list.json.asc`` is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelist.openpgp import read_certificates, verify_detached
from imagelist.smime import read_signed
from tests.cli.test_vmcaster import LIST, Endorser, _image_file, _prepare_list, endorser  # noqa: F401
from tests.httpserver import HttpServer
from tests.openpgp.gpg import Key, Keyring, gpgv, sqv
from tests.pki import TestPki
from tests.subscriber.support import Site

NAMES = ("image.list", "image.list.json", "image.list.json.asc")


def _serve(server: HttpServer, www: Path) -> str:
    for name in NAMES:
        path = www / "files" / name
        if path.exists():
            server.put(f"/files/{name}", path.read_bytes(), etag="auto")
        else:
            server.remove(f"/files/{name}")
    return server.url("/files/image.list")


@pytest.mark.parametrize("how", ["option", "environment", "vmcaster.cfg"])
def test_publish_both_then_subscribe(
    endorser: Endorser,  # noqa: F811
    sqlite_site: Site,
    server: HttpServer,
    test_pki: TestPki,
    good_key: Key,
    keyring: Keyring,
    how: str,
) -> None:
    run, site = endorser, sqlite_site
    _prepare_list(run)
    run.ok("--select-image", "8fd4c1e4-7e0c-4a5e-9f0d-2b7f3c4d5e6f", "--upload-image",
           str(_image_file(run, size=4096)))  # fmt: skip
    extra: list[str] = []
    env: dict[str, str] = {}
    if how == "option":
        extra = ["--openpgp-key", str(good_key.secret)]
    elif how == "environment":
        env = {"VMCASTER_OPENPGP_KEY": str(good_key.secret)}
    else:
        config = Path(run.env["VMCASTER_CFG"])
        config.write_text(config.read_text() + f'openpgpKey = "{good_key.secret}"\n')
    result = run("--select-imagelist", LIST, "--upload-imagelist", *extra, **env)
    assert result.rc == 0, result.err
    assert f"OpenPGP {good_key.fingerprint}" in result.out
    files = run.www / "files"
    json_file, asc = files / "image.list.json", files / "image.list.json.asc"
    assert json_file.read_bytes() == read_signed((files / "image.list").read_bytes()).payload
    assert gpgv(keyring, good_key.public, asc, json_file).returncode == 0
    assert sqv(good_key.public, asc, json_file).returncode == 0
    verify_detached(json_file.read_bytes(), asc.read_bytes(), read_certificates([good_key.public]))

    url = _serve(server, run.www)
    created = site.endorser(
        "--create", "-e", "cesga", "--dn", test_pki.good.subject_oneline,
        "--issuer", test_pki.good.issuer_oneline, "--openpgp-cert", str(good_key.public),
    )  # fmt: skip
    assert created.code == 0, created.err
    subscribed = site.subscribe("-s", url, "--signature-policy", "smime+openpgp")
    assert subscribed.code == 0, (subscribed.out, subscribed.err)
    updated = site.subscribe("-U")
    assert updated.code == 0, (updated.out, updated.err)
    assert "updated" in updated.out

    # the next version without its signature: refused, nothing written
    assert run("--select-imagelist", LIST, "--upload-imagelist", *extra, **env).rc == 0
    asc.unlink()
    _serve(server, run.www)
    before = site.snapshot()
    refused = site.subscribe("-U")
    assert refused.code == 64, (refused.out, refused.err)
    assert "image.list.json.asc" in refused.out
    assert site.snapshot() == before


def test_marketplace_protocol_refuses_an_openpgp_key(
    endorser: Endorser,  # noqa: F811
    good_key: Key,
) -> None:
    run = endorser
    _prepare_list(run, image=False)
    config = Path(run.env["VMCASTER_CFG"])
    token = run.base / "token"
    token.write_text("t0ken")
    token.chmod(0o600)
    config.write_text(
        config.read_text()
        .replace('protocol = "local"', 'protocol = "marketplace"')
        .replace(f'uriReplace = "{run.www}/"', 'uriReplace = "https://market.test/import/"')
        + f'token_file = "{token}"\n'
    )
    before = sorted(p.name for p in (run.www / "files").iterdir())
    result = run("--select-imagelist", LIST, "--upload-imagelist", "--openpgp-key",
                 str(good_key.secret))  # fmt: skip
    assert result.rc == 1
    assert "imports the S/MIME list only" in result.err
    assert sorted(p.name for p in (run.www / "files").iterdir()) == before


def test_an_unusable_openpgp_key_publishes_nothing(
    endorser: Endorser,  # noqa: F811
    good_key: Key,
    tmp_path: Path,
) -> None:
    run = endorser
    _prepare_list(run, image=False)
    open_key = tmp_path / "open.asc"
    open_key.write_bytes(good_key.secret.read_bytes())
    open_key.chmod(0o644)
    junk = tmp_path / "junk.asc"
    junk.write_bytes(b"junk")
    junk.chmod(0o600)
    public = tmp_path / "public.asc"
    public.write_bytes(good_key.public.read_bytes())
    public.chmod(0o600)
    for key, code, text in (
        (junk, 64, "not an OpenPGP secret key"),
        (open_key, 24, "too open"),
        (public, 64, "not an OpenPGP secret key"),
    ):
        result = run("--select-imagelist", LIST, "--upload-imagelist", "--openpgp-key", str(key))
        assert result.rc == code, result.err
        assert text in result.err
        assert result.err.count("\n") == 1
        assert not (run.www / "files" / "image.list").exists()
