"""EGI's atrope (PyPI 2.0.0, in its own virtualenv) reads and accepts a published VO list.

atrope's own code runs in a separate process: ``HepixImageListSource.fetch()`` downloads the
token-gated VO list from the market under uvicorn (https, basic auth ``<token>:x-oauth-basic``),
verifies it with ``openssl smime -verify -CApath`` against the test trust directory, parses it
(every image must have all of ``HepixImage.required_fields``, else ``InvalidImageList``) and
checks the endorser DN and CA it is configured with; then it downloads each image and checks
its SHA-512. ``.ci/atrope-setup`` (run by ``make test``) installs it; without it the test skips
(fails under IMAGELIST_REQUIRE_PEERS=1).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sqlalchemy.orm import Session

from imagelist.db.market import open_database
from imagelist.db.market.models import Vo
from imagelist.market.listbuild import vo_image_id
from imagelist.market.publication import publish_vo_list
from imagelist.market.settings import MarketSettings
from tests.httpserver import HttpServer
from tests.market.e2e_support import running_market
from tests.market.pubsupport import SERVICE_DN, add_token, seed
from tests.peers import require_peer
from tests.pki import TestPki

VENV_ENV = "IMAGELIST_ATROPE_VENV"
ROOT = Path(__file__).resolve().parents[2]

ATROPE_SCRIPT = """
import json, sys
from oslo_config import cfg
from atrope.image_list import hepix
from atrope import image as _image  # registers download_ca_file

args = json.loads(sys.argv[1])
cfg.CONF([], project="atrope")
cfg.CONF.set_override("ca_path", args["ca_path"])
cfg.CONF.set_override("download_ca_file", args["download_ca_file"])
source = hepix.HepixImageListSource(
    "market-vo",
    url=args["url"],
    enabled=True,
    token=args["token"],
    endorser={"dn": args["dn"], "ca": args["ca"]},
)
source.fetch()
downloaded = {}
for img in source.get_subscribed_images():
    img.download(args["download_dir"])
    downloaded[img.identifier] = img.verified
print(json.dumps({
    "verified": source.verified,
    "trusted": source.trusted,
    "expired": source.expired,
    "error": None if source.error is None else str(source.error),
    "vo": source.image_list.vo,
    "uuid": source.image_list.uuid,
    "images": sorted(img.identifier for img in source.get_images()),
    "expires": sorted(img.appliance_attributes["dc:date:expires"] for img in source.get_images()),
    "downloaded": downloaded,
}))
"""


def _atrope_python() -> Path:
    venv = Path(os.environ.get(VENV_ENV) or ROOT / ".venv-atrope")
    python = venv / "bin" / "python"
    if not python.exists():
        require_peer("atrope", f"no virtualenv at {venv} (run ./.ci/atrope-setup)")
    return python


def _atrope(
    python: Path, arguments: dict[str, str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", ATROPE_SCRIPT, json.dumps(arguments)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_atrope_accepts_a_published_vo_list(tmp_path: Path, test_pki: TestPki) -> None:
    python = _atrope_python()
    payloads = {"img0": os.urandom(40 * 1024), "img1": os.urandom(30 * 1024)}
    with HttpServer() as images, running_market(tmp_path, test_pki) as market:
        for name, data in payloads.items():
            images.put(f"/images/{name}-1.0.img", data)
        settings = MarketSettings.embedded(
            market.home,
            signer_cert=Path(market.env["IMAGELIST_MARKET_SIGNER_CERT"]),
            signer_key=Path(market.env["IMAGELIST_MARKET_SIGNER_KEY"]),
            public_base_url=market.base,
        )
        engine = open_database(settings.database_url)
        try:
            with Session(engine) as session, session.begin():
                seeded = seed(
                    session,
                    vo_name="atlas",
                    gated=True,
                    base_url=images.url("/images"),
                    payloads=payloads,
                )
                token = add_token(session, seeded.person_id, ["vo:atlas:read"])
                document = publish_vo_list(session, session.get_one(Vo, seeded.vo_id), settings)
                list_uuid = json.loads(document.json)["hv:imagelist"]["dc:identifier"]
        finally:
            engine.dispose()
        (tmp_path / "downloads").mkdir()
        arguments = {
            "url": f"{market.base}/store/vo/atlas/image.list",
            "token": token,
            "dn": SERVICE_DN,
            "ca": test_pki.intermediate.subject_oneline,
            "ca_path": str(test_pki.trust_dir),
            "download_ca_file": str(tmp_path / "atrope-ca-bundle.pem"),
            "download_dir": str(tmp_path / "downloads"),
        }
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "REQUESTS_CA_BUNDLE": str(market.ca_bundle),  # atrope's requests.get(url, auth=...)
        }
        done = _atrope(python, arguments, env, tmp_path)
        refused = _atrope(python, {**arguments, "token": ""}, env, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = sorted(vo_image_id(list_uuid, image) for image in seeded.image_uuids)
    assert result["verified"] is True
    assert result["trusted"] is True
    assert result["expired"] is False
    assert result["error"] is None
    assert result["vo"] == "atlas"
    assert result["uuid"] == list_uuid
    assert result["images"] == expected
    assert all(expiry > "2026" for expiry in result["expires"])  # never atrope's 2000 default
    assert result["downloaded"] == dict.fromkeys(expected, True)
    downloaded = {p.name: p.read_bytes() for p in (tmp_path / "downloads").iterdir()}
    assert sorted(downloaded.values()) == sorted(payloads.values())
    # without the token, atrope cannot download the gated list
    assert refused.returncode != 0
    assert "ImageListDownloadFailed" in refused.stderr
