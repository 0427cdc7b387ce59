"""The one backend interface, what it is given and returns, dry-run and strict configuration.

A backend publishes an image (:class:`ImageSpec`, built from an AvailablePostfix event), retires
images of a ``dc:identifier`` (only ever because an Expire event said so), and lists the images
it manages (:class:`ManagedImage`). Backends identify images by ``dc:identifier``, never by
name. :class:`Calls` routes every call that changes the cloud, so that ``--dry-run`` can print
the calls instead of making them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..errors import BackendConfigError, EventDataError
from ..events.model import EVENT_PREFIX, METADATA_VARIABLES

__all__ = [
    "ACTIVE",
    "PENDING",
    "RETIRED",
    "Backend",
    "Calls",
    "ImageSpec",
    "ManagedImage",
    "load_config",
    "spec_from_variables",
]

logger = logging.getLogger(__name__)

#: States of a managed image, as every backend reports them.
ACTIVE = "active"
#: An Expire event arrived: retired once the run ends or a successor is up.
PENDING = "pending-retire"
RETIRED = "retired"

_SHA512 = re.compile(r"^[0-9a-f]{128}$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
#: VMCATCHER_EVENT_* name (without prefix) → the image-list key it carries.
_VARIABLE_KEYS = {
    name: keys[0].removeprefix("hv:image.").removeprefix("hv:imagelist.")
    for name, keys in METADATA_VARIABLES
    if name not in ("FILENAME", "IL_DC_IDENTIFIER", "VO")
}


@dataclass(frozen=True)
class ImageSpec:
    """An image to publish: the event's values and the cached file they describe."""

    identifier: str
    sha512: str
    path: Path
    variables: Mapping[str, str]  # every VMCATCHER_EVENT_* variable of the event
    attributes: Mapping[str, Any]  # the image's list entry (APPLIANCE_ATTRIBUTES)
    list_id: str = ""
    vo: str = ""
    title: str = ""
    description: str = ""
    version: str = ""
    format: str = ""  # hv:format as the list gives it ("OVA", "QCOW2", "raw", ...)
    size: int | None = None  # hv:size: the cached file's size in bytes, when the event has it

    @property
    def is_ova(self) -> bool:
        """Whether the list says the file is an OVA archive."""
        return self.format.lower() == "ova"


@dataclass(frozen=True)
class ManagedImage:
    """One image a backend manages (or could adopt), as the cloud reports it."""

    backend_id: str
    identifier: str
    sha512: str
    state: str  # ACTIVE, PENDING or RETIRED
    name: str = ""
    list_id: str = ""
    managed_by: str = ""  # "imagelist", or the peer it was adopted from / belongs to

    def describe(self) -> str:
        """One line for listings."""
        return (
            f"{self.backend_id}\t{self.identifier}\t{self.state}\t{self.sha512[:16]}"
            f"\t{self.managed_by}\t{self.name}"
        )


class Backend(Protocol):
    """What every cloud backend does. Every method raises a BackendError on failure."""

    name: str
    calls: Calls

    def publish(self, spec: ImageSpec) -> ManagedImage:
        """Make ``spec`` an active image (no duplicate if it is there), then retire the ones
        it supersedes (same identifier, other checksum)."""
        ...

    def retire(self, identifier: str, sha512: str | None, *, defer: bool) -> list[ManagedImage]:
        """Retire the images of ``identifier`` (with ``sha512`` if given); ``defer`` only marks
        them, for :meth:`retire_pending` or a successor's :meth:`publish` to finish."""
        ...

    def retire_pending(self, *, keep_session: str | None = None) -> list[ManagedImage]:
        """Retire every image an earlier Expire marked (except those marked in
        ``keep_session``), and finish delayed deletions."""
        ...

    def list_images(self) -> list[ManagedImage]:
        """The images this backend manages."""
        ...


def now() -> str:
    """UTC now, as the backends record times in image properties and attributes."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Calls:
    """Every call that changes the cloud goes through :meth:`do`; dry-run records it instead."""

    def __init__(self, backend: str, *, dry_run: bool = False) -> None:
        self.backend = backend
        self.dry_run = dry_run
        self.planned: list[str] = []

    def do(self, description: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)``, or only record ``description`` in dry-run."""
        if self.dry_run:
            self.planned.append(f"{self.backend}: {description}")
            logger.info("dry-run: %s: %s", self.backend, description)
            return None
        logger.info("%s: %s", self.backend, description)
        return function(*args, **kwargs)


# --- from an event to an ImageSpec ----------------------------------------------------------


def _get(variables: Mapping[str, str], name: str) -> str:
    return variables.get(EVENT_PREFIX + name, "").strip()


def check_identifier(identifier: str) -> str:
    """``identifier`` if it is usable as an image identifier in a cloud, else EventDataError."""
    if not identifier:
        raise EventDataError("the event has no VMCATCHER_EVENT_DC_IDENTIFIER")
    if _UNSAFE.search(identifier) or len(identifier) > 200 or identifier in (".", ".."):
        raise EventDataError(f"unusable image identifier {identifier!r}")
    return identifier


def check_sha512(value: str, identifier: str) -> str:
    """``value`` lower-cased if it is a SHA-512 hex digest, else EventDataError."""
    value = value.lower()
    if not _SHA512.match(value):
        raise EventDataError(f"image {identifier}: no valid VMCATCHER_EVENT_SL_CHECKSUM_SHA512")
    return value


def _attributes_from_index(cache_dir: Path, identifier: str, sha512: str) -> dict[str, Any] | None:
    """The image's list entry from vmcatcher's ``cache.index`` (its ``hv:image.*`` keys)."""
    try:
        index = json.loads((cache_dir / "cache.index").read_text(encoding="utf-8"))
        entry = index[identifier]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(entry, dict):
        return None
    attributes = _attributes_from_metadata(entry)
    if not attributes or attributes.get("sl:checksum:sha512", sha512) != sha512:
        return None
    return attributes


def _attributes_from_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    prefix = "hv:image."
    return {k[len(prefix) :]: v for k, v in metadata.items() if k.startswith(prefix)}


def _attributes_from_variables(variables: Mapping[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name, key in _VARIABLE_KEYS.items():
        value = _get(variables, name)
        if value:
            attributes[key] = value
    return attributes


def spec_from_variables(
    variables: Mapping[str, str], metadata: Mapping[str, Any] | None = None
) -> ImageSpec:
    """The :class:`ImageSpec` of an AvailablePostfix event given as its environment.

    The file is ``$VMCATCHER_CACHE_DIR_CACHE/$VMCATCHER_EVENT_FILENAME`` (the identifier if the
    event has no FILENAME). The list entry for APPLIANCE_ATTRIBUTES comes from the event's
    metadata (in process), else from the cache's ``cache.index``, else from the event variables.
    """
    identifier = check_identifier(_get(variables, "DC_IDENTIFIER"))
    sha512 = check_sha512(_get(variables, "SL_CHECKSUM_SHA512"), identifier)
    cache_dir_text = variables.get("VMCATCHER_CACHE_DIR_CACHE", "").strip()
    if not cache_dir_text:
        raise EventDataError(f"image {identifier}: VMCATCHER_CACHE_DIR_CACHE is not set")
    cache_dir = Path(cache_dir_text)
    filename = Path(_get(variables, "FILENAME") or identifier).name
    if filename in ("", ".", ".."):
        raise EventDataError(f"image {identifier}: unusable VMCATCHER_EVENT_FILENAME")
    path = cache_dir / filename
    if not os.path.lexists(path):  # what it is (a link, a directory...) is checked on opening
        raise EventDataError(f"image {identifier}: cached file {path} does not exist")
    size_text = _get(variables, "HV_SIZE")
    if size_text and not size_text.isdigit():
        raise EventDataError(f"image {identifier}: VMCATCHER_EVENT_HV_SIZE is not a number")
    attributes = _attributes_from_metadata(metadata or {})
    if not attributes:
        attributes = _attributes_from_index(cache_dir, identifier, sha512) or {}
    if not attributes:
        attributes = _attributes_from_variables(variables)
    event_variables = {k: v for k, v in variables.items() if k.startswith(EVENT_PREFIX) and v}
    return ImageSpec(
        identifier=identifier,
        sha512=sha512,
        path=path,
        variables=event_variables,
        attributes=attributes,
        list_id=_get(variables, "IL_DC_IDENTIFIER"),
        vo=_get(variables, "VO"),
        title=_get(variables, "DC_TITLE"),
        description=_get(variables, "DC_DESCRIPTION"),
        version=_get(variables, "HV_VERSION"),
        format=_get(variables, "HV_FORMAT"),
        size=int(size_text) if size_text else None,
    )


# --- strict configuration ----------------------------------------------------------------------

ConfigT = TypeVar("ConfigT")


def _check_type(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        return value
    if origin is tuple:  # tuple[str, ...]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of strings")
        return tuple(value)
    if origin is dict:
        value_hint = typing.get_args(hint)[1]
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a table")
        return {str(k): _check_type(v, value_hint, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):  # str | None
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _check_type(value, inner, key)
    raise TypeError(f"unsupported configuration type {hint!r}")  # pragma: no cover


def load_config(cls: type[ConfigT], path: Path | None, *, required: bool = False) -> ConfigT:
    """Read a TOML file into the dataclass ``cls``: an unknown key is an error naming it.

    A missing file gives the defaults, unless ``required`` (the admin named the file).
    """
    assert dataclasses.is_dataclass(cls)
    data: dict[str, Any] = {}
    where = str(path) if path is not None else "defaults"
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if required:
                raise BackendConfigError(f"configuration file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BackendConfigError(f"cannot read configuration file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise BackendConfigError(f"{path}: not valid TOML: {exc}") from None
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise BackendConfigError(
                f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})"
            )
        try:
            values[key] = _check_type(value, hints[key], key)
        except ValueError as exc:
            raise BackendConfigError(f"{where}: {exc}") from None
    try:
        return cls(**values)
    except ValueError as exc:
        raise BackendConfigError(f"{where}: {exc}") from None


def config_path(
    option: str | None, env: Mapping[str, str], variable: str, default: str
) -> tuple[Path, bool]:
    """The configuration file to read and whether it must exist (named by option or env)."""
    if option:
        return Path(option), True
    if env.get(variable):
        return Path(env[variable]), True
    return Path(default), False
