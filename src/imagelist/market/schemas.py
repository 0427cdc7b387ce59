"""Request bodies of the REST API (pydantic, unknown fields refused) and the library's inputs.

Values are checked here for shape (types, lengths, patterns); rules that need the database
(duplicate names, states, roles) are checked by the library functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .vocab import canonical

__all__ = [
    "ApplianceCreate",
    "ApplianceUpdate",
    "EntryAdd",
    "InstanceCreate",
    "InstanceUpdate",
    "IntegrityStart",
    "MemberAdd",
    "TokenCreate",
    "VersionCreate",
    "VersionUpdate",
]

Text = Annotated[str, Field(max_length=4000)]
Line = Annotated[str, Field(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]
Sha512 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{128}$"), AfterValidator(str.lower)]
ImageUri = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")]
#: Largest image size accepted (1 PiB), as the document layer.
MAX_SIZE = 2**50


def _line(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValueError("must not be blank")
    return text


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        for name, value in self:
            if _has_nul(value):
                raise ValueError(f"{name} must not contain a NUL character")
        return self


class ApplianceCreate(_Body):
    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    title: Annotated[Line, AfterValidator(_line)]
    description: Text = ""


class ApplianceUpdate(_Body):
    title: Annotated[Line, AfterValidator(_line)] | None = None
    description: Text | None = None


class MemberAdd(_Body):
    person_id: Annotated[int, Field(ge=1)]
    permission: Literal["owner", "maintainer"] = "maintainer"


#: A version name: what the API takes and what an imported ``hv:version`` must be.
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$"
VersionName = Annotated[str, Field(min_length=1, max_length=20, pattern=VERSION_PATTERN)]


class VersionCreate(_Body):
    version: VersionName
    notes: Text = ""
    #: One of 3, 6, 9, 12 (at most the market's maximum) ...
    expires_in_months: Literal[3, 6, 9, 12] | None = None
    #: ... or an explicit time (aware, in the future, within the maximum).
    expires_at: datetime | None = None
    #: Copy the images of the latest published version.
    clone: bool = True


class VersionUpdate(_Body):
    version: VersionName | None = None
    notes: Text | None = None
    expires_in_months: Literal[3, 6, 9, 12] | None = None
    expires_at: datetime | None = None


def _hypervisors(values: list[str]) -> list[str]:
    result: list[str] = []
    for value in values:
        found = canonical("hypervisors", value)
        if found not in result:
            result.append(found)
    return result


class _InstanceFields(_Body):
    uri: ImageUri | None = None
    format: Annotated[str, AfterValidator(lambda v: canonical("formats", v))] | None = None
    hypervisors: (
        Annotated[list[str], Field(min_length=1, max_length=10), AfterValidator(_hypervisors)]
        | None
    ) = None
    arch: Annotated[str, AfterValidator(lambda v: canonical("archs", v))] | None = None
    os_family: Annotated[str, AfterValidator(lambda v: canonical("oses", v))] | None = None
    os_name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    os_version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    size: Annotated[int, Field(ge=0, le=MAX_SIZE)] | None = None
    sha512: Sha512 | None = None
    image_version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    cores_min: Count | None = None
    cores_rec: Count | None = None
    ram_min: Count | None = None
    ram_rec: Count | None = None
    comments: Text | None = None
    autocheck: bool | None = None


class InstanceCreate(_InstanceFields):
    """An image of a version: an existing logical image (``image`` = its uuid) or a new one
    (``title``, ``description``, ``group``)."""

    image: Annotated[str, Field(min_length=36, max_length=36)] | None = None
    title: Annotated[Line, AfterValidator(_line)] | None = None
    description: Text = ""
    group: Annotated[str, Field(min_length=1, max_length=200)] = "General group"
    uri: ImageUri
    format: Annotated[str, AfterValidator(lambda v: canonical("formats", v))]
    hypervisors: Annotated[
        list[str], Field(min_length=1, max_length=10), AfterValidator(_hypervisors)
    ]
    arch: Annotated[str, AfterValidator(lambda v: canonical("archs", v))]
    os_family: Annotated[str, AfterValidator(lambda v: canonical("oses", v))]
    os_name: Annotated[str, Field(min_length=1, max_length=64)]
    os_version: Annotated[str, Field(min_length=1, max_length=64)]
    size: Annotated[int, Field(ge=0, le=MAX_SIZE)]
    sha512: Sha512
    autocheck: bool = True

    @field_validator("image")
    @classmethod
    def _uuid_form(cls, value: str | None) -> str | None:
        if value is not None and len(value.split("-")) != 5:
            raise ValueError("must be a UUID")
        return value


class InstanceUpdate(_InstanceFields):
    """Changed fields of an image instance (the logical image stays)."""


class IntegrityStart(_Body):
    #: Publish the version as soon as every image passed ("Verify & Publish").
    publish: bool = False


class EntryAdd(_Body):
    appliance: Annotated[str, Field(min_length=1, max_length=64)]
    #: The version to endorse (default: the appliance's published version).
    version: VersionName | None = None


class TokenCreate(_Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[str], Field(max_length=50)] = ["market:write"]
    days: Annotated[int, Field(ge=1, le=3660)] = 90
