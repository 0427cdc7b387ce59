"""Hold the fake oned to OpenNebula's contract: its XML Schemas and its XML-RPC API reference.

:func:`validate` checks one XML document against the schemas OpenNebula publishes in
``share/doc/xsd`` (copied into ``tests/data/opennebula/``, see PROVENANCE.md there).
:class:`Contract` sits in front of a running :class:`~tests.fakes.oned.FakeOned`: it sees every
call a client makes (arguments as they arrived over XML-RPC, the response as it left) and checks
each against the API table of ``tests/fakes/oned_api.py`` and each XML document against the
schemas of every release in :data:`RELEASES`. Violations are collected, not raised, so the client
under test sees exactly what the fake sent; :meth:`Contract.check` fails the test afterwards.

oned's documents carry no namespace (share/doc/xsd/README.txt: "The included XML samples are not
actual responses from OpenNebula, as it does not include the headers (namespace, schema
location)"), while the schemas define their elements in ``http://opennebula.org/XMLSchema``; a
document is therefore moved into that namespace before it is validated, element names unchanged.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xmlschema

from tests.fakes.oned_api import API, DOCUMENTS, ERROR_CODES, Method

#: The release this contract is taken from (schemas and API reference alike).
RELEASE = "7.2.0"
#: Schemas every document is validated against: 7.2.0, and 7.4.0, whose schemas are identical
#: to those of 7.3.80, the release of the pyone client installed with imagelist.
RELEASES = ("7.2.0", "7.4.0")
NAMESPACE = "http://opennebula.org/XMLSchema"
DATA = Path(__file__).resolve().parents[1] / "data" / "opennebula"
SCHEMA_FILES = {
    "IMAGE": "image.xsd",
    "IMAGE_POOL": "image_pool.xsd",
    "DATASTORE": "datastore.xsd",
    "DATASTORE_POOL": "datastore_pool.xsd",
    "USER": "user.xsd",
}
_XMLRPC_TYPES: dict[str, type] = {"int": int, "boolean": bool, "string": str}


class SchemaViolation(AssertionError):
    """An XML document that OpenNebula's schema rejects."""


@functools.cache
def schema(root: str, release: str = RELEASE) -> xmlschema.XMLSchema:
    """The schema of document ``root`` (e.g. "IMAGE_POOL") of ``release``, with its includes."""
    return xmlschema.XMLSchema(str(DATA / f"xsd-{release}" / SCHEMA_FILES[root]))


def _qualified(document: str) -> ET.Element:
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise SchemaViolation(f"not well-formed XML: {exc}") from None
    for element in root.iter():
        if isinstance(element.tag, str) and not element.tag.startswith("{"):
            element.tag = f"{{{NAMESPACE}}}{element.tag}"
    return root


def errors(document: str, root: str, release: str = RELEASE) -> list[str]:
    """What OpenNebula ``release``'s schema of ``root`` finds wrong with ``document``."""
    element = _qualified(document)
    expected = f"{{{NAMESPACE}}}{root}"
    if element.tag != expected:
        return [f"root element is {element.tag.split('}')[-1]}, not {root}"]
    found = []
    for error in schema(root, release).iter_errors(element):
        path = (error.path or "").replace(f"{{{NAMESPACE}}}", "")
        reason = str(error.reason).replace(f"{{{NAMESPACE}}}", "")
        found.append(f"{path}: {reason}")
    return found


def validate(document: str, root: str, release: str = RELEASE) -> None:
    """Raise :class:`SchemaViolation` naming every problem unless ``document`` is valid."""
    found = errors(document, root, release)
    if found:
        raise SchemaViolation(f"{root} invalid under OpenNebula {release}: " + "; ".join(found))


def call_errors(method: Method, args: tuple[Any, ...], response: Any) -> list[str]:
    """How one call (``args`` after the session) and its response differ from ``method``."""
    found = []
    required = sum(1 for p in method.params if not p.optional)
    if not required <= len(args) <= len(method.params):
        found.append(f"{len(args)} arguments, the reference has {required}..{len(method.params)}")
    for position, (param, value) in enumerate(zip(method.params, args, strict=False), start=1):
        if (
            type(value) is not _XMLRPC_TYPES[param.type]
        ):  # bool is an int in Python, not on the wire
            found.append(f"argument {position} ({param.name}) is {type(value).__name__}")
    if not isinstance(response, list) or len(response) < 3:
        return [*found, f"response {response!r} is not [success, value, code, ...]"]
    success, value, code = response[:3]
    if type(success) is not bool or type(code) is not int:
        found.append(f"response {response!r}: success must be boolean, code int")
    elif success:
        if code != ERROR_CODES["SUCCESS"] or type(value) is not _XMLRPC_TYPES[method.returns]:
            found.append(f"success response {response!r}: expected [true, {method.returns}, 0]")
    else:
        if code not in ERROR_CODES.values() or code == 0 or type(value) is not str:
            found.append(f"failure response {response!r}: expected [false, string, error code]")
        if method.error_object_id and (len(response) < 4 or type(response[3]) is not int):
            found.append(f"failure response {response!r} lacks the ID of the failing object")
    return found


@dataclass
class Exchange:
    method: str
    args: tuple[Any, ...]  # after the session string
    response: Any


@dataclass
class Contract:
    """Checks every call made to a running fake; see the module docstring."""

    exchanges: list[Exchange] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    documents: int = 0

    def attach(self, server: Any) -> None:
        """Wrap every method registered on ``server`` (a SimpleXMLRPCServer)."""
        for name, function in list(server.funcs.items()):
            server.funcs[name] = self._checked(name, function)

    def _checked(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*params: Any) -> Any:
            response = function(*params)
            self.observe(name, params[1:], response)
            return response

        return call

    def observe(self, name: str, args: tuple[Any, ...], response: Any) -> None:
        self.exchanges.append(Exchange(name, args, response))
        method = API.get(name)
        if method is None:
            self.violations.append(f"{name}: not a method of the API table")
            return
        self.violations += [f"{name}{args!r}: {e}" for e in call_errors(method, args, response)]
        root = DOCUMENTS.get(name)
        if root is not None and isinstance(response, list) and response and response[0] is True:
            self.documents += 1
            for release in RELEASES:
                found = errors(response[1], root, release)
                self.violations += [f"{name} ({root}, OpenNebula {release}): {e}" for e in found]

    def check(self) -> None:
        """Fail with every violation seen so far."""
        if self.violations:
            raise SchemaViolation(
                "the fake broke OpenNebula's contract:\n" + "\n".join(self.violations)
            )
