"""The fake oned against OpenNebula's own contract (schemas and XML-RPC API reference, 7.2.0).

The ``oned`` fixture (tests/backends/conftest.py) checks every call of every OpenNebula test
through :class:`tests.fakes.oned_contract.Contract`; these tests drive the fake through every
state the backend meets and show that a wrong response is caught.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import re
import xml.etree.ElementTree as ET
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imagelist.backends.handler import handle
from imagelist.errors import BackendError, BackendUnavailableError
from tests.backends.support import Cache, expire, process
from tests.backends.test_opennebula import ID, backend, publish
from tests.fakes import oned as fake_module
from tests.fakes.oned import ERROR, LOCKED, READY, FakeOned
from tests.fakes.oned_api import API, DOCUMENTS, ERROR_CODES
from tests.fakes.oned_contract import (
    DATA,
    RELEASES,
    Contract,
    SchemaViolation,
    call_errors,
    errors,
    validate,
)

ADMIN = "oneadmin:opennebula"
USED, DISABLED = 2, 3
SOURCES = Path(__file__).resolve().parents[2] / "src" / "imagelist" / "backends"
#: oned's XML-RPC object names (api.md section "Authorization Requests Reference" and the
#: method names of each "Actions for ..." section).
ONE_OBJECTS = {
    "acl", "cluster", "clusterpool", "datastore", "datastorepool", "document", "documentpool",
    "group", "grouppool", "host", "hostpool", "image", "imagepool", "market", "marketapp",
    "marketapppool", "marketpool", "system", "template", "templatepool", "user", "userpool",
    "vm", "vmpool", "vn", "vnpool", "vntemplate", "zone", "zonepool",
}  # fmt: skip


def methods_called_by_the_backend() -> set[str]:
    """Every ``"<object>.<action>"`` string constant in the backend modules (ast, not regex)."""
    found = set()
    for path in SOURCES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = re.fullmatch(r"([a-z]+)\.([a-z_]+)", node.value)
                if match and match.group(1) in ONE_OBJECTS:
                    found.add("one." + node.value)
    return found


def snapshot(oned: FakeOned) -> None:
    """Read every document the backend reads, as any client would (checked by the contract)."""
    proxy = xmlrpc.client.ServerProxy(oned.endpoint)
    assert proxy.one.imagepool.info(ADMIN, -2, -1, -1)[0] is True
    assert proxy.one.datastorepool.info(ADMIN)[0] is True
    for image_id in sorted(oned.images):
        assert proxy.one.image.info(ADMIN, image_id)[0] is True


def states_seen(contract: Contract) -> set[int]:
    states = set()
    for exchange in contract.exchanges:
        if exchange.method in ("one.image.info", "one.imagepool.info") and exchange.response[0]:
            root = ET.fromstring(exchange.response[1])
            states |= {int(e.text or "") for e in root.iter("STATE")}
    return states


def test_schema_files_are_the_ones_recorded_here() -> None:
    provenance = (DATA / "PROVENANCE.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| `(\w+\.xsd)`.*`([0-9a-f]{64})` \| `([0-9a-f]{64})` \|$", provenance, re.M
    )
    assert len(rows) == 6
    for name, *digests in rows:
        for release, digest in zip(RELEASES, digests, strict=True):
            data = (DATA / f"xsd-{release}" / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, f"xsd-{release}/{name}"
    assert "Apache License" in (DATA / "LICENSE").read_text(encoding="utf-8")


def test_every_document_is_valid_through_every_state_change(
    oned: FakeOned, contract: Contract, cache: Cache, tmp_path: Path
) -> None:
    """Upload, chown/chmod, rename, disable, in-use refusal, delete, error: every document the
    backend reads, and every image after each step, is valid under 7.2.0's and 7.4.0's schemas;
    every call matches the API table."""
    proxy = xmlrpc.client.ServerProxy(oned.endpoint)
    # owner_uid: our images belong to another user (chown); owner_gid -1: one.user.info
    one = backend(oned, tmp_path, owner_uid=5, delete_retired=True, delete_retired_after_days=0)
    oned.polls_until_ready = 2  # the backend sees LOCKED before READY
    digest = publish(one, cache)  # upload: allocate, info while LOCKED, READY, rename
    snapshot(oned)
    assert proxy.one.image.enable(ADMIN, 0, False)[0] is True  # disable
    snapshot(oned)
    publish(one, cache, seed=1)  # update: allocate, chown, chmod, disable, retire the old one
    snapshot(oned)
    new = max(oned.images)
    assert oned.images[new].state == DISABLED
    assert oned.images[0].name.startswith(f"{ID}_EXPIRED_")
    assert proxy.one.image.enable(ADMIN, new, True)[0] is True
    oned.use(new, vms=1)  # a VM uses the current image
    refused = proxy.one.image.delete(ADMIN, new)
    assert refused[0] is False
    assert refused[2] == ERROR_CODES["ACTION"]
    snapshot(oned)
    handle(one, process())  # deletes the retired, unused image 0
    assert 0 not in oned.images
    snapshot(oned)
    newest = oned.images[new].template["IMAGELIST_SHA512"]
    handle(one, expire(ID, newest), defer_retire=False)  # retire while used: not disabled
    handle(one, process())  # retired but used: kept
    assert oned.images[new].state == USED
    snapshot(oned)
    missing = "<TEMPLATE><NAME>broken</NAME><PATH>/nonexistent/disk.img</PATH></TEMPLATE>"
    broken = proxy.one.image.allocate(ADMIN, missing, 1)[1]
    for _ in range(3):
        snapshot(oned)
    assert oned.images[broken].state == ERROR
    assert proxy.one.image.delete(ADMIN, broken)[0] is True  # delete
    snapshot(oned)
    assert digest != newest

    assert {LOCKED, READY, USED, DISABLED, ERROR} <= states_seen(contract)
    called = {e.method for e in contract.exchanges}
    assert methods_called_by_the_backend() <= called
    assert contract.documents >= 30
    contract.check()  # and again when the fixture ends


def test_the_api_table_covers_every_call_the_backend_makes() -> None:
    called = methods_called_by_the_backend()
    assert {"one.image.allocate", "one.imagepool.info", "one.datastorepool.info"} <= called
    assert called <= set(API), f"not in the table written from the reference: {called - set(API)}"
    assert set(DOCUMENTS) <= set(API)


def test_the_fake_uses_the_reference_error_codes() -> None:
    codes = set(ERROR_CODES) - {"SUCCESS", "LOCKED"}  # the fake's LOCKED is the image state
    for name in codes:
        assert getattr(fake_module, name) == ERROR_CODES[name], name


@pytest.mark.parametrize("name", sorted(set(ERROR_CODES) - {"SUCCESS"}))
def test_the_backend_turns_every_error_code_into_one_line(
    oned: FakeOned, tmp_path: Path, name: str
) -> None:
    """AUTHENTICATION means our credentials (unavailable: retry later); any other code fails the
    call. The response shape is checked by the contract when the fixture ends."""
    oned.fail_next("one.imagepool.info", ERROR_CODES[name], f"refused with {name}")
    expected = BackendUnavailableError if name == "AUTHENTICATION" else BackendError
    with pytest.raises(expected) as raised:
        backend(oned, tmp_path).list_images()
    assert type(raised.value) is expected
    assert f"refused with {name}" in str(raised.value)
    assert "\n" not in str(raised.value)


def _valid_calls(oned: FakeOned, image: int, path: str) -> dict[str, tuple[Any, ...]]:
    template = f"<TEMPLATE><NAME>table</NAME><PATH>{path}</PATH></TEMPLATE>"
    return {
        "one.image.allocate": (template, 1),
        "one.image.info": (image,),
        "one.image.update": (image, "<TEMPLATE><NOTE>x</NOTE></TEMPLATE>", 1),
        "one.image.chmod": (image, 1, 1, 0, 1, 0, 0, 0, 0, 0),
        "one.image.chown": (image, 0, 0),
        "one.image.rename": (image, "renamed"),
        "one.image.enable": (image, False),
        "one.image.delete": (image,),
        "one.imagepool.info": (-2, -1, -1),
        "one.datastorepool.info": (),
        "one.user.info": (-1,),
    }


def test_every_method_of_the_table_answers_as_the_reference_says(
    oned: FakeOned, contract: Contract, tmp_path: Path
) -> None:
    assert oned.server is not None
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * 4096)
    proxy = xmlrpc.client.ServerProxy(oned.endpoint)
    proxy.one.image.allocate(ADMIN, f"<TEMPLATE><NAME>a</NAME><PATH>{disk}</PATH></TEMPLATE>", 1)
    proxy.one.image.info(ADMIN, 0)
    proxy.one.image.info(ADMIN, 0)  # READY
    table = _valid_calls(oned, 0, str(disk))
    assert set(table) == set(API)
    calls = {name: args for name, args in table.items() if name in oned.server.funcs}
    assert methods_called_by_the_backend() <= set(calls)  # one.user.info: once the backend uses it
    for name, args in calls.items():  # in the table's order: delete comes last
        response = getattr(proxy, name)(ADMIN, *args)
        assert response[0] is True, (name, response)
        assert response[2] == 0
    for name, args in calls.items():
        wrong_session = getattr(proxy, name)("oneadmin:wrong", *args)
        assert wrong_session[:1] == [False]
        assert wrong_session[2] == ERROR_CODES["AUTHENTICATION"]
    for name in ("one.image.info", "one.image.rename", "one.image.delete", "one.image.chmod"):
        args = _valid_calls(oned, 99, str(disk))[name]
        missing = getattr(proxy, name)(ADMIN, *args)
        assert missing[:1] == [False]
        assert missing[2] == ERROR_CODES["NO_EXISTS"]
    assert not contract.violations


def test_call_errors_names_what_breaks_the_table() -> None:
    allocate, enable = API["one.image.allocate"], API["one.image.enable"]
    assert call_errors(allocate, ("<TEMPLATE/>", 1), [True, 5, 0]) == []
    assert call_errors(allocate, ("<TEMPLATE/>", 1), [False, "no", 0x4000, 1]) == []
    assert "success response" in call_errors(allocate, ("<TEMPLATE/>", 1), [True, "5", 0])[0]
    assert "argument 2" in call_errors(allocate, ("<TEMPLATE/>", "1"), [True, 5, 0])[0]
    assert "is int" in call_errors(enable, (5, 0), [True, 5, 0])[0]  # not a boolean
    assert "arguments" in call_errors(enable, (5,), [True, 5, 0])[0]
    assert "ID of the failing object" in call_errors(allocate, ("x", 1), [False, "no", 0x4000])[0]
    assert "error code" in call_errors(allocate, ("x", 1), [False, "no", 0x0300, 1])[0]
    assert "not [success" in call_errors(allocate, ("x", 1), [True, 5])[0]


def _set(tag: str, text: str) -> Callable[[ET.Element], None]:
    def mutate(root: ET.Element) -> None:
        for element in root.iter(tag):
            element.text = text

    return mutate


def _remove(tag: str) -> Callable[[ET.Element], None]:
    def mutate(root: ET.Element) -> None:
        for parent in list(root.iter()):
            for child in [c for c in parent if c.tag == tag]:
                parent.remove(child)

    return mutate


def _swap(first: str, second: str) -> Callable[[ET.Element], None]:
    def mutate(root: ET.Element) -> None:
        for parent in list(root.iter()):
            tags = [c.tag for c in parent]
            if first in tags and second in tags:
                i, j = tags.index(first), tags.index(second)
                parent[i], parent[j] = parent[j], parent[i]

    return mutate


def _add(parent_tag: str, tag: str) -> Callable[[ET.Element], None]:
    def mutate(root: ET.Element) -> None:
        for parent in root.iter(parent_tag):
            ET.SubElement(parent, tag).text = "1"

    return mutate


MUTATIONS = {
    "SIZE is not an integer": ("one.image.info", _set("SIZE", "2M"), "SIZE", RELEASES),
    "STATE missing": ("one.imagepool.info", _remove("STATE"), "STATE", RELEASES),
    "NAME before UID": ("one.image.info", _swap("UID", "NAME"), "UID", RELEASES),
    "an element oned never sends": ("one.image.info", _add("IMAGE", "OWNER"), "OWNER", RELEASES),
    "datastore TYPE missing": ("one.datastorepool.info", _remove("TYPE"), "TYPE", RELEASES),
    "datastore ID not an integer": ("one.datastorepool.info", _set("ID", "one"), "ID", RELEASES),
    # PERMISSIONS became mandatory after 7.2.0: only the 7.4.0 schema rejects its absence.
    "PERMISSIONS missing": ("one.image.info", _remove("PERMISSIONS"), "PERMISSIONS", ("7.4.0",)),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_wrong_fake_response_is_caught(mutation: str, cache: Cache, tmp_path: Path) -> None:
    """The fake's response is altered on its way out; the backend reads it; the contract fails."""
    method, mutate, element, releases = MUTATIONS[mutation]
    contract = Contract()
    with FakeOned() as oned:
        assert oned.server is not None
        original = oned.server.funcs[method]

        def mutated(*params: Any) -> Any:
            response = original(*params)
            if response[0] is True:
                root = ET.fromstring(response[1])
                mutate(root)
                response[1] = ET.tostring(root, encoding="unicode")
            return response

        oned.server.funcs[method] = mutated
        contract.attach(oned.server)
        one = backend(oned, tmp_path)
        with contextlib.suppress(Exception):  # pyone may choke on it or not; the contract must
            publish(one, cache)
        snapshot(oned)
    assert contract.documents > 0
    bad = [v for v in contract.violations if v.startswith(method)]
    assert bad, f"{mutation}: not caught"
    assert all(element in v for v in bad), bad
    assert {r for r in RELEASES if any(f"OpenNebula {r}" in v for v in bad)} == set(releases)
    with pytest.raises(SchemaViolation, match=element):
        contract.check()


def test_validate_rejects_the_wrong_document_and_accepts_oned_samples() -> None:
    image = (
        "<IMAGE><ID>0</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>"
        "<NAME>x</NAME><PERMISSIONS><OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A>"
        "<GROUP_U>0</GROUP_U><GROUP_M>0</GROUP_M><GROUP_A>0</GROUP_A><OTHER_U>0</OTHER_U>"
        "<OTHER_M>0</OTHER_M><OTHER_A>0</OTHER_A></PERMISSIONS><TYPE>0</TYPE>"
        "<DISK_TYPE>0</DISK_TYPE><PERSISTENT>0</PERSISTENT><REGTIME>1</REGTIME>"
        "<MODTIME>1</MODTIME><SOURCE/><PATH/><FORMAT>raw</FORMAT><FS/><SIZE>1</SIZE>"
        "<STATE>1</STATE><PREV_STATE>0</PREV_STATE><RUNNING_VMS>0</RUNNING_VMS>"
        "<CLONING_OPS>0</CLONING_OPS><CLONING_ID>-1</CLONING_ID>"
        "<TARGET_SNAPSHOT>-1</TARGET_SNAPSHOT><DATASTORE_ID>1</DATASTORE_ID>"
        "<DATASTORE>default</DATASTORE><VMS/><CLONES/><APP_CLONES/><TEMPLATE><ANY>x</ANY>"
        "</TEMPLATE><SNAPSHOTS><ALLOW_ORPHANS>NO</ALLOW_ORPHANS><CURRENT_BASE>-1</CURRENT_BASE>"
        "<NEXT_SNAPSHOT>0</NEXT_SNAPSHOT></SNAPSHOTS><BACKUP_INCREMENTS/></IMAGE>"
    )
    for release in RELEASES:
        validate(image, "IMAGE", release)
        validate(f"<IMAGE_POOL>{image}</IMAGE_POOL>", "IMAGE_POOL", release)
        validate("<IMAGE_POOL/>", "IMAGE_POOL", release)
    assert errors(image, "IMAGE_POOL") == ["root element is IMAGE, not IMAGE_POOL"]
    with pytest.raises(SchemaViolation, match="BACKUP_INCREMENTS"):
        validate(image.replace("<BACKUP_INCREMENTS/>", ""), "IMAGE")
    with pytest.raises(SchemaViolation, match="not well-formed"):
        validate("<IMAGE>", "IMAGE")
