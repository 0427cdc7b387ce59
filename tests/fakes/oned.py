"""A faithful fake of OpenNebula's oned XML-RPC API, for the methods imagelist uses.

No oned package exists to run in tests, so this is the one fake among the peers. It follows
oned (OpenNebula 7.2.0) for the calls ``one.image.allocate/info/update/chmod/chown/rename/enable/
delete``, ``one.imagepool.info``, ``one.datastorepool.info`` and ``one.user.info``:

* every response is ``[true, result, 0]`` or ``[false, error_message, error_code, object_id]``
  as 7.2.0's XML-RPC API reference documents them (tests/fakes/oned_api.py); error codes are oned's
  (AUTHENTICATION 0x0100, AUTHORIZATION 0x0200, NO_EXISTS 0x0400, ACTION 0x0800,
  XML_RPC_API 0x1000, INTERNAL 0x2000, ALLOCATE 0x4000) and messages are oned's wording;
* the first argument is the session ``user:password``, checked against the users;
* templates are accepted as XML (``<TEMPLATE>...``) or oned's ``KEY = "value"`` syntax;
* images follow oned's state machine: allocate → LOCKED (the datastore driver copies PATH) →
  READY, or ERROR when PATH cannot be read; enable/disable only from READY, DISABLED or ERROR;
  delete refused while USED (a VM uses the image); names unique per owner;
* several users in groups, each image owned by a UID and GID; every call is authorized as oned
  does it: members of the oneadmin group may do anything; otherwise the image's OWNER_*,
  GROUP_* or OTHER_* bits (owner, group member, anyone else) must grant USE (info), MANAGE
  (update, rename, enable, delete, chmod) or ADMIN (chmod of the ADMIN bits);
  ``imagepool.info`` with ``-2`` lists only the images the user may USE;
* permissions default to the umask 177 (OWNER_U/OWNER_M only); only the oneadmin group may
  change an image's owner; its owner may change its group to a group the owner belongs to;
* pool and object XML has oned's element names and order, so pyone's generated bindings parse
  it as they parse oned's; every document is valid under OpenNebula's own schemas of 7.2.0 and
  7.4.0 (tests/data/opennebula), which tests/fakes/oned_contract.py checks on every call.

Start it with :class:`FakeOned` (a context manager; the server listens on 127.0.0.1 in a
thread). Tests can mark images used (:meth:`FakeOned.use`) and inject failures.
"""

from __future__ import annotations

import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

AUTHENTICATION = 0x0100
AUTHORIZATION = 0x0200
NO_EXISTS = 0x0400
ACTION = 0x0800
XML_RPC_API = 0x1000
INTERNAL = 0x2000
ALLOCATE = 0x4000

INIT, READY, USED, DISABLED, LOCKED, ERROR = 0, 1, 2, 3, 4, 5
IMAGE_TYPES = {"OS": 0, "CDROM": 1, "DATABLOCK": 2, "KERNEL": 3, "RAMDISK": 4, "CONTEXT": 5}
PERMISSIONS = (
    "OWNER_U",
    "OWNER_M",
    "OWNER_A",
    "GROUP_U",
    "GROUP_M",
    "GROUP_A",
    "OTHER_U",
    "OTHER_M",
    "OTHER_A",
)


class OnedError(Exception):
    """A failure response."""

    def __init__(self, code: int, message: str, object_id: int = -1) -> None:
        super().__init__(message)
        self.code = code
        self.object_id = object_id  # "ID of the object that caused the error" (-1: none)


@dataclass
class User:
    uid: int
    gid: int
    name: str
    group: str
    password: str


@dataclass
class Datastore:
    id: int
    name: str
    type: int  # 0 IMAGE, 1 SYSTEM, 2 FILE
    ds_mad: str = "fs"
    tm_mad: str = "shared"


@dataclass
class FakeImage:
    id: int
    uid: int
    gid: int
    name: str
    datastore: Datastore
    template: dict[str, str]
    type: int = 0
    state: int = LOCKED
    prev_state: int = INIT
    permissions: list[int] = field(default_factory=lambda: [1, 1, 0, 0, 0, 0, 0, 0, 0])
    running_vms: int = 0
    size_mb: int = 0
    regtime: int = 0
    polls_until_ready: int = 1
    copy_error: str = ""


def parse_template(text: str) -> dict[str, str]:
    """oned's template parser for the flat templates images use: XML or ``KEY = "value"``."""
    text = text.strip()
    if text.startswith("<"):
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise OnedError(INTERNAL, f"Parse error: {exc}") from None
        return {child.tag.upper(): (child.text or "") for child in root}
    values: dict[str, str] = {}
    pattern = re.compile(r'\s*([A-Za-z0-9_]+)\s*=\s*(?:"((?:\\.|[^"\\])*)"|([^\s"]*))\s*', re.S)
    position = 0
    while position < len(text):
        match = pattern.match(text, position)
        if match is None:
            raise OnedError(INTERNAL, f"Parse error: syntax error, unexpected at {position}")
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        values[match.group(1).upper()] = value or ""
        position = match.end()
    return values


class FakeOned:
    """oned's image API over XML-RPC on 127.0.0.1 (a context manager)."""

    def __init__(self, *, password: str = "opennebula") -> None:
        self.users = {
            "oneadmin": User(0, 0, "oneadmin", "oneadmin", password),
            "site": User(5, 100, "site", "users", "sitepass"),
            "alice": User(7, 100, "alice", "users", "alicepass"),
            "mallory": User(9, 101, "mallory", "students", "mallorypass"),
        }
        self.groups = {0: "oneadmin", 1: "users", 100: "users", 101: "students"}
        self.datastores = {
            0: Datastore(0, "system", 1, "-", "shared"),
            1: Datastore(1, "default", 0),
            2: Datastore(2, "files", 2),
            100: Datastore(100, "ceph", 0, "ceph", "ceph"),
        }
        self.images: dict[int, FakeImage] = {}
        self.next_id = 0
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.failures: dict[str, tuple[int, str]] = {}
        self.lock = threading.Lock()
        self.polls_until_ready = 1
        self.server: SimpleXMLRPCServer | None = None
        self.thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeOned:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, port: int = 0) -> None:
        class Handler(SimpleXMLRPCRequestHandler):
            rpc_paths = ("/RPC2",)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = SimpleXMLRPCServer(
            ("127.0.0.1", port), requestHandler=Handler, allow_none=False, logRequests=False
        )
        methods = {
            "one.image.allocate": self.image_allocate,
            "one.image.info": self.image_info,
            "one.image.update": self.image_update,
            "one.image.chmod": self.image_chmod,
            "one.image.chown": self.image_chown,
            "one.image.rename": self.image_rename,
            "one.image.enable": self.image_enable,
            "one.image.delete": self.image_delete,
            "one.imagepool.info": self.imagepool_info,
            "one.datastorepool.info": self.datastorepool_info,
            "one.user.info": self.user_info,
        }
        for name, method in methods.items():
            self.server.register_function(self._wrap(name, method), name)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/RPC2"

    # --- test controls ----------------------------------------------------------------------

    def fail_next(self, method: str, code: int, message: str) -> None:
        """The next call of ``method`` (e.g. "one.image.allocate") fails with ``code``."""
        self.failures[method] = (code, message)

    def use(self, image_id: int, vms: int = 1) -> None:
        """VMs start (``vms`` > 0) or stop using an image, as oned's VM lifecycle would do."""
        with self.lock:
            image = self.images[image_id]
            image.running_vms = vms
            if vms > 0 and image.state == READY:
                image.state = USED
            elif vms == 0 and image.state == USED:
                image.state = READY

    def by_name(self, name: str) -> FakeImage:
        return next(i for i in self.images.values() if i.name == name)

    # --- plumbing -------------------------------------------------------------------------------

    def _wrap(self, name: str, method: Any) -> Any:
        def call(session: str, *args: Any) -> list[Any]:
            with self.lock:
                self.calls.append((name, args))
                try:
                    failure = self.failures.pop(name, None)
                    if failure is not None:
                        raise OnedError(*failure)
                    user = self._authenticate(session, name)
                    return [True, method(user, *args), 0]
                except OnedError as exc:
                    return [False, f"[{name}] {exc}", exc.code, exc.object_id]
                except TypeError:
                    return [False, f"[{name}] Wrong number of arguments", XML_RPC_API, -1]

        return call

    def _authenticate(self, session: str, name: str) -> User:
        user_name, _, password = str(session).partition(":")
        user = self.users.get(user_name)
        if user is None or user.password != password:
            raise OnedError(AUTHENTICATION, "User couldn't be authenticated, aborting call.")
        return user

    def _image(self, image_id: int) -> FakeImage:
        image = self.images.get(int(image_id))
        if image is None:
            raise OnedError(NO_EXISTS, f"Error getting image [{image_id}].", int(image_id))
        return image

    @staticmethod
    def _allowed(user: User, image: FakeImage, operation: str) -> bool:
        """oned's check: the oneadmin group may do anything; otherwise the owner's, the
        group's or the others' bit for ``operation`` (USE, MANAGE, ADMIN) must be set."""
        if user.uid == 0 or user.gid == 0:
            return True
        offset = {"USE": 0, "MANAGE": 1, "ADMIN": 2}[operation]
        if image.uid == user.uid:
            return bool(image.permissions[offset])
        if image.gid == user.gid:
            return bool(image.permissions[3 + offset])
        return bool(image.permissions[6 + offset])

    def _authorize(self, user: User, image: FakeImage, operation: str) -> None:
        if self._allowed(user, image, operation):
            return
        raise OnedError(
            AUTHORIZATION,
            f"User [{user.uid}] : Not authorized to perform {operation} IMAGE [{image.id}].",
        )

    def _advance(self, image: FakeImage) -> None:
        """The datastore driver's copy finishes after a poll or two (oned is asynchronous)."""
        if image.state != LOCKED:
            return
        if image.polls_until_ready > 0:
            image.polls_until_ready -= 1
            return
        if image.copy_error:
            image.state = ERROR
            image.template["ERROR"] = image.copy_error
        else:
            image.state = READY

    # --- methods ------------------------------------------------------------------------------

    def image_allocate(self, user: User, template: str, ds_id: int, *skip: bool) -> int:
        if len(skip) > 1:
            raise TypeError
        values = parse_template(template)
        datastore = self.datastores.get(int(ds_id))
        if datastore is None:
            raise OnedError(NO_EXISTS, f"Error getting datastore [{ds_id}].")
        if datastore.type != 0:
            raise OnedError(ACTION, "Datastore is not of type IMAGE.")
        name = values.pop("NAME", "").strip()
        if not name:
            raise OnedError(ALLOCATE, "No NAME in template for Image.")
        for other in self.images.values():
            if other.name == name and other.uid == user.uid:
                raise OnedError(ALLOCATE, f"NAME is already taken by IMAGE {other.id}.")
        type_name = values.pop("TYPE", "OS").upper()
        if type_name not in IMAGE_TYPES:
            raise OnedError(ALLOCATE, f"Unknown type {type_name}")
        path = values.get("PATH", "")
        if not path and type_name != "DATABLOCK":
            raise OnedError(ALLOCATE, "No PATH nor SOURCE in template.")
        copy_error = ""
        size = 0
        try:
            size = max(1, os.stat(path).st_size // (1024 * 1024))
        except OSError as exc:
            copy_error = f"Error copying image in the datastore: {path}: {exc.strerror}"
        image = FakeImage(
            id=self.next_id,
            uid=user.uid,
            gid=user.gid,
            name=name,
            datastore=datastore,
            template=values,
            type=IMAGE_TYPES[type_name],
            size_mb=size,
            regtime=int(time.time()),
            polls_until_ready=self.polls_until_ready,
            copy_error=copy_error,
        )
        self.images[image.id] = image
        self.next_id += 1
        return image.id

    def image_info(self, user: User, image_id: int, *decrypt: bool) -> str:
        image = self._image(image_id)
        self._authorize(user, image, "USE")
        self._advance(image)
        return ET.tostring(self._image_xml(image), encoding="unicode")

    def image_update(self, user: User, image_id: int, template: str, append: int = 0) -> int:
        image = self._image(image_id)
        self._authorize(user, image, "MANAGE")
        values = parse_template(template)
        if int(append) == 1:
            image.template.update(values)
        else:
            keep = {k: v for k, v in image.template.items() if k in ("PATH", "DRIVER")}
            image.template = {**keep, **values}
        return image.id

    def image_chmod(self, user: User, image_id: int, *bits: int) -> int:
        if len(bits) != 9:
            raise TypeError
        image = self._image(image_id)
        self._authorize(user, image, "MANAGE")
        changed = [
            i for i in (2, 5, 8) if int(bits[i]) != -1 and int(bits[i]) != image.permissions[i]
        ]
        if changed:  # the ADMIN bits need the ADMIN right
            self._authorize(user, image, "ADMIN")
        image.permissions = [
            old if int(new) == -1 else int(new)
            for old, new in zip(image.permissions, bits, strict=True)
        ]
        return image.id

    def image_chown(self, user: User, image_id: int, uid: int, gid: int) -> int:
        image = self._image(image_id)
        self._authorize(user, image, "MANAGE")
        admin = user.uid == 0 or user.gid == 0
        new_owner = int(uid) >= 0 and int(uid) != image.uid
        new_group = int(gid) >= 0 and int(gid) != image.gid
        if (new_owner and not admin) or (new_group and not admin and int(gid) != user.gid):
            raise OnedError(
                AUTHORIZATION,
                f"User [{user.uid}] : Not authorized to perform ADMIN IMAGE [{image.id}].",
            )
        if int(uid) >= 0:
            owner = next((u for u in self.users.values() if u.uid == int(uid)), None)
            if owner is None:
                raise OnedError(NO_EXISTS, f"Error getting user [{uid}].")
            clash = next(
                (
                    o
                    for o in self.images.values()
                    if o.uid == owner.uid and o.name == image.name and o is not image
                ),
                None,
            )
            if clash is not None:
                raise OnedError(ACTION, f"NAME is already taken by IMAGE {clash.id}.")
            image.uid = owner.uid
        if int(gid) >= 0:
            if int(gid) not in self.groups:
                raise OnedError(NO_EXISTS, f"Error getting group [{gid}].")
            image.gid = int(gid)
        return image.id

    def image_rename(self, user: User, image_id: int, name: str) -> int:
        image = self._image(image_id)
        self._authorize(user, image, "MANAGE")
        name = str(name).strip()
        if not name:
            raise OnedError(ACTION, "New name cannot be empty")
        for other in self.images.values():
            if other is not image and other.name == name and other.uid == image.uid:
                raise OnedError(ACTION, f"NAME is already taken by IMAGE {other.id}.")
        image.name = name
        return image.id

    def image_enable(self, user: User, image_id: int, enable: bool) -> int:
        image = self._image(image_id)
        self._authorize(user, image, "MANAGE")
        if image.state not in (READY, DISABLED, ERROR):
            state = ["INIT", "READY", "USED", "DISABLED", "LOCKED", "ERROR"][image.state]
            word = "enabled" if enable else "disabled"
            raise OnedError(
                ACTION, f"Could not {word[:-1]} image: Image cannot be {word} in state {state}"
            )
        image.prev_state, image.state = image.state, READY if enable else DISABLED
        return image.id

    def image_delete(self, user: User, image_id: int, *force: bool) -> int:
        image = self._image(image_id)
        self._authorize(user, image, "MANAGE")
        if image.running_vms > 0 or image.state == USED:
            raise OnedError(
                ACTION,
                f"Cannot delete image [{image.id}]: Image is used by {image.running_vms} VMs",
            )
        del self.images[image.id]
        return image.id

    def imagepool_info(self, user: User, who: int, start: int, end: int, *state: int) -> str:
        root = ET.Element("IMAGE_POOL")
        for image in sorted(self.images.values(), key=lambda i: i.id):
            if int(start) >= 0 and image.id < int(start):
                continue
            if int(end) >= 0 and image.id > int(end):
                continue
            visible = (
                (int(who) == -2 and self._allowed(user, image, "USE"))
                or (int(who) == -3 and image.uid == user.uid)
                or (int(who) == -1 and (image.uid == user.uid or image.gid == user.gid))
                or (int(who) >= 0 and image.uid == int(who))
            )
            if visible:
                self._advance(image)
                root.append(self._image_xml(image))
        return ET.tostring(root, encoding="unicode")

    def user_info(self, user: User, user_id: int, *decrypt: bool) -> str:
        """``-1`` is the user of the session; others need the oneadmin group."""
        wanted = user if int(user_id) == -1 else None
        if wanted is None:
            wanted = next((u for u in self.users.values() if u.uid == int(user_id)), None)
            if wanted is None:
                raise OnedError(NO_EXISTS, f"Error getting user [{user_id}].", int(user_id))
            if wanted is not user and user.gid != 0:
                raise OnedError(
                    AUTHORIZATION,
                    f"User [{user.uid}] : Not authorized to perform USE USER [{user_id}].",
                    int(user_id),
                )
        element = ET.Element("USER")
        _children(element, [("ID", wanted.uid), ("GID", wanted.gid)])
        groups = ET.SubElement(element, "GROUPS")
        ET.SubElement(groups, "ID").text = str(wanted.gid)
        _children(
            element,
            [
                ("GNAME", self.groups[wanted.gid]),
                ("NAME", wanted.name),
                ("PASSWORD", "****"),
                ("AUTH_DRIVER", "core"),
                ("ENABLED", 1),
            ],
        )
        ET.SubElement(element, "TEMPLATE")  # no LOGIN_TOKEN: oned sends one per token only
        quotas = ("DATASTORE_QUOTA", "NETWORK_QUOTA", "VM_QUOTA", "IMAGE_QUOTA")
        for quota in quotas:  # user.xsd: the user's quotas (none set), then the defaults
            ET.SubElement(element, quota)
        defaults = ET.SubElement(element, "DEFAULT_USER_QUOTAS")
        for quota in quotas:
            ET.SubElement(defaults, quota)
        return ET.tostring(element, encoding="unicode")

    def datastorepool_info(self, user: User) -> str:
        root = ET.Element("DATASTORE_POOL")
        for store in self.datastores.values():
            element = ET.SubElement(root, "DATASTORE")
            _children(
                element,
                [
                    ("ID", store.id),
                    ("UID", 0),
                    ("GID", 0),
                    ("UNAME", "oneadmin"),
                    ("GNAME", "oneadmin"),
                    ("NAME", store.name),
                ],
            )
            _permissions(element, [1, 1, 0, 1, 0, 0, 0, 0, 0])
            _children(
                element,
                [
                    ("DS_MAD", store.ds_mad),
                    ("TM_MAD", store.tm_mad),
                    ("BASE_PATH", f"/var/lib/one//datastores/{store.id}"),
                    ("TYPE", store.type),
                    ("DISK_TYPE", 0),
                    ("STATE", 0),
                ],
            )
            clusters = ET.SubElement(element, "CLUSTERS")
            ET.SubElement(clusters, "ID").text = "0"
            _children(element, [("TOTAL_MB", 102400), ("FREE_MB", 51200), ("USED_MB", 51200)])
            images = ET.SubElement(element, "IMAGES")
            for image in self.images.values():
                if image.datastore is store:
                    ET.SubElement(images, "ID").text = str(image.id)
            template = ET.SubElement(element, "TEMPLATE")
            ET.SubElement(template, "DS_MAD").text = store.ds_mad
        return ET.tostring(root, encoding="unicode")

    def _image_xml(self, image: FakeImage) -> ET.Element:
        owner = next(u for u in self.users.values() if u.uid == image.uid)
        element = ET.Element("IMAGE")
        _children(
            element,
            [
                ("ID", image.id),
                ("UID", image.uid),
                ("GID", image.gid),
                ("UNAME", owner.name),
                ("GNAME", self.groups[image.gid]),
                ("NAME", image.name),
            ],
        )
        _permissions(element, image.permissions)
        driver = image.template.get("DRIVER", "raw")
        _children(
            element,
            [
                ("TYPE", image.type),
                ("DISK_TYPE", 0),
                ("PERSISTENT", 0),
                ("REGTIME", image.regtime),
                ("MODTIME", image.regtime),
                ("SOURCE", f"/var/lib/one//datastores/{image.datastore.id}/{image.id:032x}"),
                ("PATH", image.template.get("PATH", "")),
                ("FORMAT", driver),
                ("FS", ""),
                ("SIZE", image.size_mb),
                ("STATE", image.state),
                ("PREV_STATE", image.prev_state),
                ("RUNNING_VMS", image.running_vms),
                ("CLONING_OPS", 0),
                ("CLONING_ID", -1),
                ("TARGET_SNAPSHOT", -1),
                ("DATASTORE_ID", image.datastore.id),
                ("DATASTORE", image.datastore.name),
            ],
        )
        ET.SubElement(element, "VMS")
        ET.SubElement(element, "CLONES")
        ET.SubElement(element, "APP_CLONES")
        template = ET.SubElement(element, "TEMPLATE")
        for key, value in image.template.items():
            ET.SubElement(template, key).text = value
        snapshots = ET.SubElement(element, "SNAPSHOTS")
        _children(snapshots, [("ALLOW_ORPHANS", "NO"), ("CURRENT_BASE", -1), ("NEXT_SNAPSHOT", 0)])
        ET.SubElement(element, "BACKUP_INCREMENTS")  # required by image.xsd; empty: no backups
        return element


def _children(parent: ET.Element, items: list[tuple[str, Any]]) -> None:
    for tag, value in items:
        ET.SubElement(parent, tag).text = str(value)


def _permissions(parent: ET.Element, bits: list[int]) -> None:
    element = ET.SubElement(parent, "PERMISSIONS")
    for name, bit in zip(PERMISSIONS, bits, strict=True):
        ET.SubElement(element, name).text = str(bit)
