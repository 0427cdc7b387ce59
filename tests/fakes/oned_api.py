"""The oned XML-RPC calls imagelist's OpenNebula backend makes, as OpenNebula 7.2.0 documents them.

Written by hand from the XML-RPC API reference of OpenNebula 7.2.0: the OpenNebula/website
repository, tag ``release-7.2.0`` (commit 0b0398a35c6eac1cfcf7bfa1aaa2d40fa427a215), file
``content/product/integration_references/system_interfaces/api.md`` (last changed by commit
4488ca756a77000d63bf056c887ae4c5ef465986). Section names below are that page's headings.

Each row is a method: its IN parameters after the session string (name, XML-RPC type, whether the
reference marks it optional), the type of the second OUT value on success, and whether the
reference lists a fourth OUT value, "ID of the object that caused the error". Types are XML-RPC's:
``int`` is ``<int>``/``<i4>``, ``boolean`` is ``<boolean>``, ``string`` is ``<string>``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: "The Error Code will contain one of the following values" (api.md, introduction).
ERROR_CODES = {
    "SUCCESS": 0x0000,
    "AUTHENTICATION": 0x0100,
    "AUTHORIZATION": 0x0200,
    "NO_EXISTS": 0x0400,
    "ACTION": 0x0800,
    "XML_RPC_API": 0x1000,
    "INTERNAL": 0x2000,
    "ALLOCATE": 0x4000,
    "LOCKED": 0x8000,
}

#: The document root each ``info`` method returns ("The information strings returned by the
#: one.*.info methods are XML-formatted"; the schemas are share/doc/xsd of OpenNebula/one).
DOCUMENTS = {
    "one.image.info": "IMAGE",
    "one.imagepool.info": "IMAGE_POOL",
    "one.datastorepool.info": "DATASTORE_POOL",
    "one.user.info": "USER",
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "int", "boolean" or "string"
    optional: bool = False


@dataclass(frozen=True)
class Method:
    name: str
    section: str  # the heading of api.md it was read from
    params: tuple[Param, ...]  # after the session string
    returns: str  # type of OUT value 2 on success: "int" (an ID) or "string" (XML)
    error_object_id: bool  # the reference lists "ID of the object that caused the error"


_ID = Param("The object ID.", "int")
_BITS = tuple(
    Param(f"{who} {what} bit. If set to -1, it will not change.", "int")
    for who in ("USER", "GROUP", "OTHER")
    for what in ("USE", "MANAGE", "ADMIN")
)

API = {
    m.name: m
    for m in (
        Method(
            "one.image.allocate",
            "Actions for Image Management / one.image.allocate",
            (
                Param("A string containing the template of the image.", "string"),
                Param("The datastore ID.", "int"),
                Param(
                    "true to avoid checking datastore capacity. Only for admins.", "boolean", True
                ),
            ),
            "int",
            True,
        ),
        Method(
            "one.image.delete",
            "Actions for Image Management / one.image.delete",
            (_ID, Param("Force flag", "boolean", True)),
            "int",
            True,
        ),
        Method(
            "one.image.enable",
            "Actions for Image Management / one.image.enable",
            (
                Param("The Image ID.", "int"),
                Param("True for enabling, false for disabling.", "boolean"),
            ),
            "int",
            False,
        ),
        Method(
            "one.image.update",
            "Actions for Image Management / one.image.update",
            (
                _ID,
                Param("The new template contents.", "string"),
                Param("Update type: 0: Replace the whole template. 1: Merge.", "int"),
            ),
            "int",
            False,
        ),
        Method(
            "one.image.chmod",
            "Actions for Image Management / one.image.chmod",
            (_ID, *_BITS),
            "int",
            True,
        ),
        Method(
            "one.image.chown",
            "Actions for Image Management / one.image.chown",
            (
                _ID,
                Param("The User ID of the new owner. -1: unchanged.", "int"),
                Param("The Group ID of the new group. -1: unchanged.", "int"),
            ),
            "int",
            True,
        ),
        Method(
            "one.image.rename",
            "Actions for Image Management / one.image.rename",
            (_ID, Param("The new name.", "string")),
            "int",
            True,
        ),
        Method(
            "one.image.info",
            "Actions for Image Management / one.image.info",
            (_ID, Param("optional flag to decrypt contained secrets", "boolean", True)),
            "string",
            True,
        ),
        Method(
            "one.imagepool.info",
            "Actions for Image Management / one.imagepool.info",
            (
                Param("Filter flag: -4 group, -3 user, -2 all, -1 user and groups, >=0 UID", "int"),
                Param("Range start ID (or pagination offset)", "int"),
                Param("Range end ID (or page size)", "int"),
            ),
            "string",
            True,
        ),
        Method(
            "one.datastorepool.info",
            "Actions for Datastore Management / one.datastorepool.info",
            (),
            "string",
            True,
        ),
        Method(
            "one.user.info",
            "Actions for User Management / one.user.info",
            (
                Param("The object ID. If it is -1, the connected user's own info", "int"),
                Param("optional flag to decrypt contained secrets", "boolean", True),
            ),
            "string",
            True,
        ),
    )
}
