"""The OpenStack Glance backend: openstacksdk, auth from clouds.yaml / OS_* as every OpenStack tool.

Images are found by their ``vmcatcher_event_dc_identifier`` property (never by name), carry a
tag naming the tool that manages them (default ``imagelist``), the EGI-convention properties
(lowercase ``vmcatcher_event_*`` for every event variable, ``APPLIANCE_ATTRIBUTES`` with the
list entry as JSON, ``image_list`` with the list id) and ``imagelist_sha512``, the list's
checksum of the source. After an upload Glance's own ``os_hash_value`` must equal the SHA-512
of what was sent (the list's ``sl:checksum:sha512`` unless the file was extracted or
converted), or the upload is deleted and the call fails.

Properties are changed with explicit JSON patches: openstacksdk's ``update_image`` replaces the
whole property set (dropping properties it did not load), which Glance refuses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import openstack
import openstack.config
import openstack.connection
import openstack.exceptions
from keystoneauth1 import exceptions as ks_exceptions
from openstack.image.v2._proxy import Proxy as ImageProxy
from openstack.image.v2.image import Image

from ..errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    BackendVerificationError,
)
from ..events.model import EVENT_PREFIX
from .base import ACTIVE, PENDING, RETIRED, Calls, ImageSpec, ManagedImage
from .convert import Converter, Prepared

__all__ = ["GlanceBackend", "GlanceConfig", "connect"]

logger = logging.getLogger(__name__)

RETIRE_MODES = ("hide", "deactivate", "delete-when-unused")
VISIBILITIES = ("private", "shared", "community", "public")
ID_PROPERTY = "vmcatcher_event_dc_identifier"
SHA_PROPERTY = "imagelist_sha512"
PENDING_PROPERTY = "imagelist_retire_pending"
RETIRED_PROPERTY = "imagelist_retired"
DELETE_PROPERTY = "imagelist_delete_pending"
#: How peers mark the identifier and the checksum of images they uploaded (peers.md §1.5-1.7).
PEER_ID_PROPERTIES = {"appdb_id": "atrope", "APPLIANCE_ID": "cloudkeeper-os"}
PEER_SHA_PROPERTIES = ("image_hash", "sha512")
_PATCH = "application/openstack-images-v2.1-json-patch"
_NAME_FIELDS = {"identifier", "title", "version", "list_id", "vo"}


@dataclass(frozen=True)
class GlanceConfig:
    """``glance.toml``: every key optional; unknown keys are errors."""

    cloud: str | None = None  # clouds.yaml entry; default: $OS_CLOUD or the OS_* variables
    visibility: str = "private"
    retire_mode: str = "deactivate"
    tag: str = "imagelist"
    disk_formats: tuple[str, ...] = ()  # formats the site accepts; empty: upload as listed
    conversion_dir: str = ""
    vo_projects: dict[str, tuple[str, ...]] = field(default_factory=dict)
    member_clouds: dict[str, str] = field(default_factory=dict)  # project id → clouds.yaml entry
    adopt: bool = True
    adopt_tags: tuple[str, ...] = ("atrope", "atrope-catchall")
    name_format: str = "{title}"
    defer_retire: bool = True
    conversion_timeout: float = 3600.0

    def __post_init__(self) -> None:
        if self.visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        if self.retire_mode not in RETIRE_MODES:
            raise ValueError(f"retire_mode must be one of {', '.join(RETIRE_MODES)}")
        if not self.tag:
            raise ValueError("tag must not be empty")
        names = {f[1] for f in string.Formatter().parse(self.name_format) if f[1] is not None}
        if names - _NAME_FIELDS:
            raise ValueError(
                f"name_format: unknown field {sorted(names - _NAME_FIELDS)[0]!r} "
                f"(known: {', '.join(sorted(_NAME_FIELDS))})"
            )

    def conversion_path(self) -> Path:
        """Where conversions are cached."""
        if self.conversion_dir:
            return Path(self.conversion_dir)
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "imagelist" / "conversions"


#: Connect and read timeout of every Glance/Keystone request, in seconds, unless clouds.yaml
#: (``api_timeout``) or OS_API_TIMEOUT sets one: a cloud that accepts and never answers must not
#: block an event forever (issue 17 §4).
API_TIMEOUT = 60.0


def connect(cloud: str | None) -> openstack.connection.Connection:
    """An openstacksdk connection as every OpenStack tool makes it (clouds.yaml, OS_*), with
    :data:`API_TIMEOUT` unless the configuration sets ``api_timeout``."""
    try:
        region = (
            openstack.config.get_cloud_region(cloud=cloud)
            if cloud
            else (openstack.config.get_cloud_region())
        )
        if region.config.get("api_timeout") is None:
            region.config["api_timeout"] = API_TIMEOUT
        return openstack.connection.Connection(config=region)
    except openstack.exceptions.ConfigException as exc:
        raise BackendConfigError(f"OpenStack configuration: {exc}") from None


@contextlib.contextmanager
def _api(what: str) -> Iterator[None]:
    """Turn openstacksdk and keystoneauth failures into one-line BackendErrors."""
    try:
        yield
    except openstack.exceptions.HttpException as exc:
        status = exc.status_code
        detail = " ".join(str(exc.details or exc.message or "").split())
        if status in (401, 403):
            message = f"Glance refused {what}: HTTP {status} {detail}"
            raise BackendUnavailableError(message) from None
        raise BackendError(f"Glance: {what} failed: HTTP {status} {detail}") from None
    except (ks_exceptions.ConnectionError, ks_exceptions.ConnectFailure) as exc:
        raise BackendUnavailableError(f"cannot reach Glance ({what}): {exc}") from None
    except ks_exceptions.ClientException as exc:
        raise BackendUnavailableError(f"Glance ({what}): {exc}") from None
    except openstack.exceptions.SDKException as exc:
        raise BackendError(f"Glance: {what} failed: {exc}") from None


def image_api(connection: openstack.connection.Connection) -> ImageProxy:
    """The connection's Image v2 API (the only one this backend speaks)."""
    proxy = connection.image
    if not isinstance(proxy, ImageProxy):
        raise BackendConfigError("the Glance backend needs the Image API v2 (image_api_version)")
    return proxy


def _matches(image: Image, query: Mapping[str, str]) -> bool:
    props = image.properties or {}
    for key, value in query.items():
        if key == "tag":
            if value not in (image.tags or []):
                return False
        elif str(props.get(key, "")) != value:
            return False
    return True


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GlanceBackend:
    """Publish, retire and list images in one Glance."""

    name = "glance"

    def __init__(
        self,
        config: GlanceConfig,
        connection: openstack.connection.Connection,
        *,
        dry_run: bool = False,
        member_connection: Callable[[str], openstack.connection.Connection] | None = None,
        converter: Converter | None = None,
    ) -> None:
        self.config = config
        self.connection = connection
        self.calls = Calls("glance", dry_run=dry_run)
        self._member_connection = member_connection or self._default_member_connection
        self.converter = converter or Converter(
            config.conversion_path(), timeout=config.conversion_timeout
        )

    def _default_member_connection(self, project: str) -> openstack.connection.Connection:
        cloud = self.config.member_clouds.get(project)
        return connect(cloud) if cloud else self.connection

    # --- reading ----------------------------------------------------------------------------

    def _query(self, **query: str) -> list[Image]:
        """Images whose properties equal ``query``, hidden ones included.

        Sent as Glance v2 property filters (openstacksdk's ``images()`` drops filters it does
        not know), then checked again here: nothing is acted on that does not match.
        """
        found: dict[str, Image] = {}
        api = image_api(self.connection)
        with _api("listing images"):
            for hidden in ("false", "true"):
                url: str | None = "/images?" + urlencode(
                    {**query, "os_hidden": hidden, "limit": "100"}
                )
                while url:
                    response = api.get(url, raise_exc=False)
                    openstack.exceptions.raise_from_response(response)
                    body = response.json()
                    for item in body.get("images", []):
                        item = {k: v for k, v in item.items() if k not in ("self", "schema")}
                        image = Image.existing(**item)
                        found[str(image.id)] = image
                    url = body.get("next")
                    if url and url.startswith("/v2/"):
                        url = url[len("/v2") :]
        return [image for image in found.values() if _matches(image, query)]

    def _candidates(self, identifier: str) -> list[Image]:
        """Every image that says it is ``identifier``: ours, and peers' when adopting."""
        images = self._query(**{ID_PROPERTY: identifier})
        if self.config.adopt:
            for key in PEER_ID_PROPERTIES:
                images += self._query(**{key: identifier})
        unique = {str(i.id): i for i in images}
        return list(unique.values())

    def _is_ours(self, image: Image) -> bool:
        return self.config.tag in (image.tags or [])

    def _peer(self, image: Image) -> str:
        props = image.properties or {}
        for key, peer in PEER_ID_PROPERTIES.items():
            if props.get(key):
                tags = image.tags or []
                if peer == "atrope" and not any(t in tags for t in self.config.adopt_tags):
                    continue
                return peer
        return ""

    @staticmethod
    def _source_sha512(image: Image) -> str:
        """The list checksum an image was made from, as its tool recorded it."""
        props = image.properties or {}
        for key in (SHA_PROPERTY, *PEER_SHA_PROPERTIES):
            if props.get(key):
                return str(props[key]).lower()
        try:
            attributes = json.loads(props.get("APPLIANCE_ATTRIBUTES") or "{}")
            value = attributes.get("sl:checksum:sha512") if isinstance(attributes, dict) else None
        except ValueError:
            value = None
        if value:
            return str(value).lower()
        if image.hash_algo == "sha512" and image.hash_value:
            return str(image.hash_value).lower()
        return ""

    def _state(self, image: Image) -> str:
        props = image.properties or {}
        if props.get(RETIRED_PROPERTY) or image.status == "deactivated":
            return RETIRED
        if props.get(PENDING_PROPERTY):
            return PENDING
        return ACTIVE

    def _managed(self, image: Image) -> ManagedImage:
        props = image.properties or {}
        identifier = props.get(ID_PROPERTY) or next(
            (props[k] for k in PEER_ID_PROPERTIES if props.get(k)), ""
        )
        return ManagedImage(
            backend_id=str(image.id),
            identifier=str(identifier),
            sha512=self._source_sha512(image),
            state=self._state(image),
            name=str(image.name or ""),
            list_id=str(props.get("image_list") or props.get("APPLIANCE_IMAGE_LIST_ID") or ""),
            managed_by=self.config.tag if self._is_ours(image) else self._peer(image),
        )

    def list_images(self) -> list[ManagedImage]:
        """The images carrying our tag."""
        return sorted(
            (self._managed(i) for i in self._query(tag=self.config.tag)),
            key=lambda m: (m.identifier, m.backend_id),
        )

    # --- writing ----------------------------------------------------------------------------

    def _patch(self, image: Image, values: Mapping[str, Any], description: str) -> None:
        """Set ``values`` (properties or attributes such as visibility, os_hidden)."""
        current = {**(image.properties or {})}
        operations = [
            {
                "op": "replace" if key in current or key in ("visibility", "os_hidden") else "add",
                "path": f"/{key}",
                "value": value,
            }
            for key, value in values.items()
        ]

        def send() -> None:
            with _api(description):
                response = image_api(self.connection).patch(
                    f"/images/{image.id}",
                    json=operations,
                    headers={"Content-Type": _PATCH},
                    raise_exc=False,
                )
                openstack.exceptions.raise_from_response(response)

        self.calls.do(f"{description}: PATCH image {image.id} {json.dumps(values)}", send)

    def _properties(self, spec: ImageSpec, prepared: Prepared) -> dict[str, str]:
        props = {
            key.lower(): value
            for key, value in spec.variables.items()
            if key.startswith(EVENT_PREFIX) and value
        }
        props.update(
            {
                "APPLIANCE_ATTRIBUTES": json.dumps(dict(spec.attributes), sort_keys=True),
                "image_list": spec.list_id,
                SHA_PROPERTY: spec.sha512,
                "imagelist_managed_by": "imagelist",
            }
        )
        if spec.attributes.get("sl:arch"):
            props["architecture"] = str(spec.attributes["sl:arch"])
        if spec.attributes.get("sl:osversion"):
            props["os_version"] = str(spec.attributes["sl:osversion"])
        if spec.attributes.get("sl:osname"):
            props["os_distro"] = str(spec.attributes["sl:osname"]).lower()
        if prepared.converted:
            props["imagelist_uploaded_sha512"] = prepared.sha512
        return {k: v for k, v in props.items() if v}

    def _name(self, spec: ImageSpec) -> str:
        return self.config.name_format.format(
            identifier=spec.identifier,
            title=spec.title or spec.identifier,
            version=spec.version,
            list_id=spec.list_id,
            vo=spec.vo,
        )[:255]

    def publish(self, spec: ImageSpec) -> ManagedImage:
        """Upload (or find, or adopt) the image of ``spec``, share it, retire what it replaces."""
        candidates = self._candidates(spec.identifier)
        current = self._find_current(spec, candidates)
        if current is None:
            current = self._upload(spec)
        self._share(current, spec)
        for image in candidates:
            superseded = self._source_sha512(image) != spec.sha512 or self._state(image) == PENDING
            if str(image.id) != str(current.id) and self._retirable(image) and superseded:
                self._retire_image(image, "superseded by " + str(current.id))
        return self._managed(current)

    def _retirable(self, image: Image) -> bool:
        return (self._is_ours(image) or bool(self._peer(image))) and self._state(image) != RETIRED

    def _find_current(self, spec: ImageSpec, candidates: Sequence[Image]) -> Image | None:
        """An active image of exactly this content we manage or may adopt; leftovers deleted."""
        for image in candidates:
            if self._source_sha512(image) != spec.sha512 or self._state(image) == RETIRED:
                continue
            if self._is_ours(image):
                if image.status == "active":
                    if self._state(image) == PENDING:
                        self._patch(image, {PENDING_PROPERTY: ""}, "listed again: not retired")
                    logger.info("image %s already in Glance as %s", spec.identifier, image.id)
                    return image
                if image.status in ("queued", "saving", "killed", "importing"):
                    self.calls.do(
                        f"delete incomplete upload {image.id} ({image.status})",
                        self._delete,
                        image,
                    )
                continue
            peer = self._peer(image)
            if peer and image.status == "active":
                logger.info("adopting %s image %s of %s", peer, image.id, spec.identifier)
                tags = [*(image.tags or []), self.config.tag]
                self.calls.do(
                    f"adopt {peer} image {image.id}: add tag {self.config.tag}",
                    self._add_tag,
                    image,
                    self.config.tag,
                )
                image.tags = tags
                props = self._properties(spec, Prepared(spec.path, "", spec.sha512, False))
                props["imagelist_adopted_from"] = peer
                self._patch(image, props, f"adopt {peer} image")
                return image
        return None

    def _add_tag(self, image: Image, tag: str) -> None:
        with _api(f"tagging {image.id}"):
            image_api(self.connection).add_tag(image, tag)

    def _delete(self, image: Image) -> None:
        with _api(f"deleting {image.id}"):
            image_api(self.connection).delete_image(image, ignore_missing=True)

    def _upload(self, spec: ImageSpec) -> Image:
        if self.calls.dry_run:
            prepared = Prepared(spec.path, spec.format.lower() or "raw", spec.sha512, False)
        else:
            prepared = self.converter.prepare(
                spec.path, spec.sha512, ova=spec.is_ova, accepted=self.config.disk_formats
            )
        visibility = self.config.visibility
        if self.config.vo_projects.get(spec.vo) and visibility == "private":
            visibility = "shared"
        attrs: dict[str, Any] = {
            "name": self._name(spec),
            "disk_format": prepared.disk_format,
            "container_format": "bare",
            "visibility": visibility,
            "tags": [self.config.tag],
            **self._properties(spec, prepared),
        }
        if self.calls.dry_run:
            self.calls.do(
                f"create image {attrs['name']!r} ({prepared.disk_format}, {visibility}) "
                f"for {spec.identifier} and upload {prepared.path}",
                lambda: None,
            )
            return Image.existing(id="(new)", name=attrs["name"], tags=attrs["tags"], status="")
        with _api(f"creating the image of {spec.identifier}"):
            image = Image.new(**attrs).create(image_api(self.connection))
        logger.info("glance: created image %s for %s", image.id, spec.identifier)
        try:
            with _api(f"uploading {prepared.path.name}"), prepared.path.open("rb") as data:
                image.upload(
                    image_api(self.connection), data=data, size=prepared.path.stat().st_size
                )
            with _api(f"reading back image {image.id}"):
                image = image_api(self.connection).get_image(image.id)
            self._verify(image, prepared)
        except BaseException:
            logger.error("glance: upload of %s failed; deleting %s", spec.identifier, image.id)
            with contextlib.suppress(BackendError):
                self._delete(image)
            raise
        return image

    def _verify(self, image: Image, prepared: Prepared) -> None:
        """Glance's own view: active, and os_hash_value equal to the digest of what we sent."""
        if image.status != "active":
            raise BackendVerificationError(
                f"image {image.id} is {image.status!r} after upload, not 'active'"
            )
        algorithm = str(image.hash_algo or "")
        if algorithm == "sha512":
            expected = prepared.sha512
        else:
            try:
                digest = hashlib.new(algorithm)
            except ValueError:
                raise BackendVerificationError(
                    f"image {image.id}: Glance hashes with {algorithm!r}; cannot check it"
                ) from None
            with prepared.path.open("rb") as handle:
                while chunk := handle.read(1024 * 1024):
                    digest.update(chunk)
            expected = digest.hexdigest()
        if str(image.hash_value or "").lower() != expected:
            raise BackendVerificationError(
                f"image {image.id}: Glance os_hash_value ({algorithm}) "
                f"{str(image.hash_value)[:16]}... differs from the file's {expected[:16]}..."
            )

    def _share(self, image: Image, spec: ImageSpec) -> None:
        """Share with the projects of the image's VO, and accept for them."""
        projects = self.config.vo_projects.get(spec.vo, ())
        if spec.vo and not projects:
            logger.warning("image %s: no projects mapped for VO %r", spec.identifier, spec.vo)
        for project in projects:
            if project == image.owner:
                continue
            if image.visibility == "private":
                self._patch(image, {"visibility": "shared"}, "share")
                image.visibility = "shared"
            self.calls.do(
                f"add member {project} to image {image.id} and accept it",
                self._add_member,
                image,
                project,
            )

    def _add_member(self, image: Image, project: str) -> None:
        with _api(f"adding member {project} to {image.id}"):
            try:
                image_api(self.connection).add_member(image, member_id=project)
            except openstack.exceptions.ConflictException:
                logger.debug("image %s: %s is already a member", image.id, project)
        with _api(f"accepting image {image.id} for {project}"):
            member_connection = self._member_connection(project)
            image_api(member_connection).update_member(project, image, status="accepted")

    # --- retiring -------------------------------------------------------------------------------

    def retire(self, identifier: str, sha512: str | None, *, defer: bool) -> list[ManagedImage]:
        """Retire (or with ``defer`` mark) the images of ``identifier`` we manage or adopted."""
        done = []
        for image in self._candidates(identifier):
            if not self._retirable(image):
                continue
            if sha512 and self._source_sha512(image) != sha512:
                continue
            if defer:
                if self._state(image) != PENDING:
                    self._patch(image, {PENDING_PROPERTY: _now()}, "expired: retire at run end")
            else:
                self._retire_image(image, "expired")
            done.append(self._managed(image))
        if not done:
            logger.info("glance: nothing to retire for %s", identifier)
        return done

    def retire_pending(self, *, keep_session: str | None = None) -> list[ManagedImage]:
        """Retire marked images; retry deletions Glance refused (image in use)."""
        del keep_session  # marks are per image; a later run retires them all the same
        done = []
        for image in self._query(tag=self.config.tag):
            props = image.properties or {}
            if props.get(PENDING_PROPERTY) and not props.get(RETIRED_PROPERTY):
                self._retire_image(image, "expired earlier")
                done.append(self._managed(image))
            elif props.get(DELETE_PROPERTY) and self.config.retire_mode == "delete-when-unused":
                self._try_delete(image)
        return done

    def _retire_image(self, image: Image, reason: str) -> None:
        mode = self.config.retire_mode
        logger.info("glance: retiring %s (%s, %s)", image.id, reason, mode)
        values: dict[str, Any] = {RETIRED_PROPERTY: _now(), PENDING_PROPERTY: ""}
        if mode == "hide":
            values["os_hidden"] = True
        else:
            values["visibility"] = "private"
        self._patch(image, values, f"retire ({reason})")
        if mode == "deactivate" and image.status == "active":
            self.calls.do(f"deactivate image {image.id}", self._deactivate, image)
        elif mode == "delete-when-unused":
            self._try_delete(image)

    def _deactivate(self, image: Image) -> None:
        with _api(f"deactivating {image.id}"):
            image_api(self.connection).deactivate_image(image)

    def _try_delete(self, image: Image) -> None:
        def attempt() -> None:
            try:
                with _api(f"deleting {image.id}"):
                    image_api(self.connection).delete_image(image, ignore_missing=True)
            except BackendError as exc:
                logger.warning("glance: %s kept (in use?): %s; deactivated instead", image.id, exc)
                if image.status == "active":
                    self._deactivate(image)
                self._patch(image, {DELETE_PROPERTY: _now()}, "delete later")

        self.calls.do(f"delete image {image.id} (if unused)", attempt)
