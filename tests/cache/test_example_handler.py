"""A third-party handler written as vmcatcher's example handler gets what 0.6 would have set.

The handler below behaves as ``vmcatcher_eventHndlExpl`` (reference §2.7): it knows a fixed set
of VMCATCHER_* variables, fills the missing ones with "", and appends them as one JSON line
(sorted keys) to ``--output_file``. The expected lines are written out by hand from §2.6/§2.7,
then compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from tests.cache.support import CacheSite, image_bytes

EXAMPLE_HANDLER = """\
import json, optparse, os

EVENT = ["VMCATCHER_EVENT_TYPE", "VMCATCHER_EVENT_DC_DESCRIPTION",
         "VMCATCHER_EVENT_DC_IDENTIFIER", "VMCATCHER_EVENT_DC_TITLE",
         "VMCATCHER_EVENT_HV_HYPERVISOR", "VMCATCHER_EVENT_HV_SIZE", "VMCATCHER_EVENT_HV_URI",
         "VMCATCHER_EVENT_HV_VERSION", "VMCATCHER_EVENT_SL_ARCH",
         "VMCATCHER_EVENT_SL_CHECKSUM_SHA512", "VMCATCHER_EVENT_SL_COMMENTS",
         "VMCATCHER_EVENT_SL_OS", "VMCATCHER_EVENT_SL_OSVERSION", "VMCATCHER_EVENT_FILENAME",
         "VMCATCHER_EVENT_IL_DC_IDENTIFIER", "VMCATCHER_EVENT_HV_FORMAT"]
CONF = ["VMCATCHER_RDBMS", "VMCATCHER_CACHE_EVENT", "VMCATCHER_LOG_CONF", "VMCATCHER_DIR_CERT",
        "VMCATCHER_CACHE_DIR_CACHE", "VMCATCHER_CACHE_DIR_DOWNLOAD", "VMCATCHER_CACHE_DIR_EXPIRE",
        "VMCATCHER_CACHE_ACTION_DOWNLOAD", "VMCATCHER_CACHE_ACTION_CHECK",
        "VMCATCHER_CACHE_ACTION_EXPIRE"]
parser = optparse.OptionParser()
parser.add_option("--output_file")
parser.add_option("--generator")
options, _ = parser.parse_args()
found = {key: os.environ[key] for key in EVENT + CONF if key in os.environ}
if options.generator != "minium":
    found = {key: found.get(key, "") for key in EVENT + CONF}
with open(options.output_file, "a") as out:
    json.dump(found, out, sort_keys=True)
    out.write("\\n")
"""


def _blank() -> dict[str, str]:
    names = [
        "VMCATCHER_EVENT_TYPE",
        "VMCATCHER_EVENT_DC_DESCRIPTION",
        "VMCATCHER_EVENT_DC_IDENTIFIER",
        "VMCATCHER_EVENT_DC_TITLE",
        "VMCATCHER_EVENT_HV_HYPERVISOR",
        "VMCATCHER_EVENT_HV_SIZE",
        "VMCATCHER_EVENT_HV_URI",
        "VMCATCHER_EVENT_HV_VERSION",
        "VMCATCHER_EVENT_SL_ARCH",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512",
        "VMCATCHER_EVENT_SL_COMMENTS",
        "VMCATCHER_EVENT_SL_OS",
        "VMCATCHER_EVENT_SL_OSVERSION",
        "VMCATCHER_EVENT_FILENAME",
        "VMCATCHER_EVENT_IL_DC_IDENTIFIER",
        "VMCATCHER_EVENT_HV_FORMAT",
        "VMCATCHER_RDBMS",
        "VMCATCHER_CACHE_EVENT",
        "VMCATCHER_LOG_CONF",
        "VMCATCHER_DIR_CERT",
        "VMCATCHER_CACHE_DIR_CACHE",
        "VMCATCHER_CACHE_DIR_DOWNLOAD",
        "VMCATCHER_CACHE_DIR_EXPIRE",
        "VMCATCHER_CACHE_ACTION_DOWNLOAD",
        "VMCATCHER_CACHE_ACTION_CHECK",
        "VMCATCHER_CACHE_ACTION_EXPIRE",
    ]
    return dict.fromkeys(names, "")


def test_example_handler_receives_vmcatcher_06_variables(
    cache_site: CacheSite, tmp_path: Path
) -> None:
    site = cache_site
    content = image_bytes("img-b v2", 2048)
    site.serve("img-b", content)
    site.describe(
        "img-b",
        content,
        comments="Tested by the site",
        unrecognized_fields={"hv:format": "OVA", "ad:mpuri": "https://marketplace/img-b:1"},
    )
    site.publish("1.1", [site.images["img-b"]], vo="ops")
    script = tmp_path / "vmcatcher_eventHndlExpl.py"
    script.write_text(EXAMPLE_HANDLER)
    log = tmp_path / "example.log"
    command = f"{sys.executable} {script} --output_file {log}"
    cache_dir = f"{site.cache_dir}/"  # a trailing slash, kept as configured
    database = site.site.database
    result = site.cache(
        "-j",
        "1",
        handler=False,
        env={
            "VMCATCHER_CACHE_EVENT": command,
            "VMCATCHER_RDBMS": database,
            "VMCATCHER_CACHE_DIR_CACHE": cache_dir,
            "VMCATCHER_LOG_CONF": "",
        },
    )
    assert result.code == 0, result.err
    assert result.out.startswith("1 downloaded")

    sha = hashlib.sha512(content).hexdigest()
    process = {
        **_blank(),
        "VMCATCHER_RDBMS": database,
        "VMCATCHER_CACHE_EVENT": command,
        "VMCATCHER_CACHE_DIR_CACHE": cache_dir,
        "VMCATCHER_CACHE_DIR_DOWNLOAD": cache_dir + "partial",
        "VMCATCHER_CACHE_DIR_EXPIRE": cache_dir + "expired",
    }
    image = {
        **process,
        "VMCATCHER_EVENT_DC_DESCRIPTION": "The img-b appliance",
        "VMCATCHER_EVENT_DC_IDENTIFIER": "img-b",
        "VMCATCHER_EVENT_DC_TITLE": "Image img-b",
        "VMCATCHER_EVENT_HV_HYPERVISOR": "kvm",
        "VMCATCHER_EVENT_HV_SIZE": "2048",
        "VMCATCHER_EVENT_HV_URI": site.server.url("/images/img-b"),
        "VMCATCHER_EVENT_HV_VERSION": "1",
        "VMCATCHER_EVENT_SL_ARCH": "x86_64",
        "VMCATCHER_EVENT_SL_CHECKSUM_SHA512": sha,
        "VMCATCHER_EVENT_SL_COMMENTS": "Tested by the site",
        "VMCATCHER_EVENT_SL_OS": "Linux",
        "VMCATCHER_EVENT_SL_OSVERSION": "9",
        "VMCATCHER_EVENT_FILENAME": "img-b",
        "VMCATCHER_EVENT_IL_DC_IDENTIFIER": "6b9c2f4e-3a1d-4c8e-9f5b-2d7e1a0c4b38",
        "VMCATCHER_EVENT_HV_FORMAT": "OVA",
    }
    expected = [
        {**process, "VMCATCHER_EVENT_TYPE": "ProcessPrefix"},
        {**image, "VMCATCHER_EVENT_TYPE": "AvailablePrefix"},
        {**image, "VMCATCHER_EVENT_TYPE": "AvailablePostfix"},
        {**process, "VMCATCHER_EVENT_TYPE": "ProcessPostfix"},
    ]
    lines = log.read_bytes().splitlines()
    assert lines == [json.dumps(e, sort_keys=True).encode() for e in expected]

    # The variables this handler does not know reach a handler that lists everything.
    site.clear_log()
    site.publish("1.2", [])
    site.cache()
    expire_postfix = site.events()[2]
    assert expire_postfix["VMCATCHER_EVENT_TYPE"] == "ExpirePostfix"
    assert expire_postfix["VMCATCHER_EVENT_AD_MPURI"] == "https://marketplace/img-b:1"
    assert expire_postfix["VMCATCHER_EVENT_VO"] == "ops"
    assert expire_postfix["VMCATCHER_EVENT_FILENAME"].startswith("img-b.")
    assert "VMCATCHER_EVENT_SL_COMMENTS" in expire_postfix
