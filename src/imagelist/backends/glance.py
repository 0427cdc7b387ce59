"""The OpenStack Glance backend: openstacksdk, auth from clouds.yaml / OS_* as every OpenStack tool.

Images are found by their ``vmcatcher_event_dc_identifier`` property (never by name). Only
images of our project (``project_id``) that carry our tag (default ``imagelist``) are ours
(:mod:`.ownership`); look-alikes of other projects are ignored. Our images carry the
EGI-convention properties (lowercase ``vmcatcher_event_*`` for every event variable,
``APPLIANCE_ATTRIBUTES`` with the list entry as JSON, ``image_list`` with the list id) and
``imagelist_sha512``, the list's checksum of the source. The cached file is verified before it
is uploaded (:mod:`.source`); after an upload Glance's own ``os_hash_value`` must equal the
SHA-512 of what was sent (the list's ``sl:checksum:sha512`` unless the file was extracted or
converted), or the upload is deleted and the call fails.
"""

from __future__ import annotations

import contextlib
import json
import logging
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openstack
import openstack.config
import openstack.connection
import openstack.exceptions
from openstack.image.v2.image import Image

from ..errors import BackendConfigError, BackendError
from .base import ACTIVE, PENDING, RETIRED, Calls, ImageSpec, ManagedImage, now
from .convert import MAX_EXPANSION, NO_ENVIRONMENT, Converter, Prepared, conversion_directory
from .glance_api import (
    api_errors,
    image_api,
    image_properties,
    patch_image,
    query_images,
    reading,
    verify_upload,
)
from .ownership import (
    GLANCE_ID,
    GLANCE_PEER_IDS,
    OURS,
    Claim,
    glance_claim,
    glance_is_current,
    glance_source_sha512,
)
from .source import VerifiedFile, open_cached

__all__ = ["GlanceBackend", "GlanceConfig", "connect"]

logger = logging.getLogger(__name__)

RETIRE_MODES = ("hide", "deactivate", "delete-when-unused")
VISIBILITIES = ("private", "shared", "community", "public")
PENDING_PROPERTY = "imagelist_retire_pending"
RETIRED_PROPERTY = "imagelist_retired"
DELETE_PROPERTY = "imagelist_delete_pending"
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
    project_id: str = ""  # the project our images belong to; default: the token's project
    adopt: bool = False  # adopt atrope / cloudkeeper-os images of our project
    adopt_tags: tuple[str, ...] = ("atrope", "atrope-catchall")
    name_format: str = "{title}"
    defer_retire: bool = True
    conversion_timeout: float = 3600.0
    max_expansion: int = MAX_EXPANSION  # a conversion writes at most this times hv:size

    def __post_init__(self) -> None:
        if self.max_expansion < 1:
            raise ValueError("max_expansion must be at least 1")
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

    def conversion_path(self, environ: Mapping[str, str]) -> Path:
        """Where conversions are cached (``environ``: the command's environment)."""
        return conversion_directory(self.conversion_dir, environ)


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
        environ: Mapping[str, str] = NO_ENVIRONMENT,
    ) -> None:
        self.config = config
        self.connection = connection
        self.calls = Calls("glance", dry_run=dry_run)
        self._member_connection = member_connection or self._default_member_connection
        self.converter = converter or Converter(
            config.conversion_path(environ),
            timeout=config.conversion_timeout,
            max_expansion=config.max_expansion,
            environ=environ,
        )
        self._project = config.project_id

    def _default_member_connection(self, project: str) -> openstack.connection.Connection:
        cloud = self.config.member_clouds.get(project)
        return connect(cloud) if cloud else self.connection

    @property
    def project(self) -> str:
        """The project whose images are ours: ``project_id``, else the credentials' project."""
        if not self._project:
            with api_errors("finding our project"):
                project = self.connection.current_project_id
            if not project:
                raise BackendConfigError(
                    "Glance: the credentials name no project; set project_id in the configuration"
                )
            self._project = str(project)
        return self._project

    # --- reading ----------------------------------------------------------------------------

    def _query(self, **query: str) -> list[Image]:
        """Images of our project whose properties equal ``query``, hidden ones included."""
        return query_images(self.connection, {**query, "owner": self.project})

    def _claim(self, image: Image) -> Claim:
        return glance_claim(
            image,
            project=self.project,
            tag=self.config.tag,
            adopt=self.config.adopt,
            adopt_tags=self.config.adopt_tags,
        )

    def _candidates(self, identifier: str) -> list[tuple[Image, Claim]]:
        """The images of ``identifier`` that are ours, and peers' we may adopt.

        Listed without an owner filter, so that look-alikes of other projects are seen, logged
        and left alone (:func:`.ownership.glance_claim`)."""
        images = query_images(self.connection, {GLANCE_ID: identifier})
        if self.config.adopt:
            for key in GLANCE_PEER_IDS:
                images += query_images(self.connection, {key: identifier})
        unique = {str(i.id): i for i in images}
        claimed = [(image, self._claim(image)) for image in unique.values()]
        return [(image, claim) for image, claim in claimed if claim.managed]

    def _state(self, image: Image) -> str:
        props = image.properties or {}
        if props.get(RETIRED_PROPERTY) or image.status == "deactivated":
            return RETIRED
        if props.get(PENDING_PROPERTY):
            return PENDING
        return ACTIVE

    def _managed(self, image: Image, claim: Claim) -> ManagedImage:
        props = image.properties or {}
        identifier = props.get(GLANCE_ID) or next(
            (props[k] for k in GLANCE_PEER_IDS if props.get(k)), ""
        )
        return ManagedImage(
            backend_id=str(image.id),
            identifier=str(identifier),
            sha512=glance_source_sha512(image),
            state=self._state(image),
            name=str(image.name or ""),
            list_id=str(props.get("image_list") or props.get("APPLIANCE_IMAGE_LIST_ID") or ""),
            managed_by=self.config.tag if claim.kind == OURS else claim.peer,
        )

    def _ours(self) -> list[tuple[Image, Claim]]:
        claimed = [(image, self._claim(image)) for image in self._query(tag=self.config.tag)]
        return [(image, claim) for image, claim in claimed if claim.kind == OURS]

    def list_images(self) -> list[ManagedImage]:
        """Our images: our project's, with our tag."""
        return sorted(
            (self._managed(image, claim) for image, claim in self._ours()),
            key=lambda m: (m.identifier, m.backend_id),
        )

    # --- writing ----------------------------------------------------------------------------

    def _patch(self, image: Image, values: Mapping[str, Any], description: str) -> None:
        """Set ``values`` (properties or attributes such as visibility, os_hidden)."""
        self.calls.do(
            f"{description}: PATCH image {image.id} {json.dumps(values)}",
            patch_image,
            self.connection,
            image,
            values,
            description,
        )

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
        current, gone = self._find_current(spec, candidates)
        if current is None:
            current = self._upload(spec)
        self._share(current, spec)
        for image, _ in candidates:
            if str(image.id) in (str(current.id), *gone) or self._state(image) == RETIRED:
                continue
            self._retire_image(image, "superseded by " + str(current.id))
        return self._managed(current, Claim(OURS))

    def _find_current(
        self, spec: ImageSpec, candidates: Sequence[tuple[Image, Claim]]
    ) -> tuple[Image | None, list[str]]:
        """An image of ours (or adoptable) whose Glance hash is the list's; and the ids of
        our incomplete uploads of this content, deleted."""
        gone: list[str] = []
        for image, claim in candidates:
            if self._state(image) == RETIRED:
                continue
            if (
                claim.kind == OURS
                and image.status in ("queued", "saving", "killed", "importing")
                and glance_source_sha512(image) == spec.sha512
            ):
                description = f"delete incomplete upload {image.id} ({image.status})"
                self.calls.do(description, self._delete, image)
                gone.append(str(image.id))
                continue
            if not glance_is_current(image, claim, spec.sha512):
                continue
            if claim.kind == OURS:
                if self._state(image) == PENDING:
                    self._patch(image, {PENDING_PROPERTY: ""}, "listed again: not retired")
                logger.info("image %s already in Glance as %s", spec.identifier, image.id)
                return image, gone
            peer = claim.peer
            logger.info("adopting %s image %s of %s", peer, image.id, spec.identifier)
            tag = self.config.tag
            self.calls.do(
                f"adopt {peer} image {image.id}: add tag {tag}", self._add_tag, image, tag
            )
            image.tags = [*(image.tags or []), tag]
            props = image_properties(spec, Prepared(spec.path, "", spec.sha512, False))
            props["imagelist_adopted_from"] = peer
            self._patch(image, props, f"adopt {peer} image")
            return image, gone
        return None, gone

    def _add_tag(self, image: Image, tag: str) -> None:
        with api_errors(f"tagging {image.id}"):
            image_api(self.connection).add_tag(image, tag)

    def _delete(self, image: Image) -> None:
        with api_errors(f"deleting {image.id}"):
            image_api(self.connection).delete_image(image, ignore_missing=True)

    def _upload(self, spec: ImageSpec) -> Image:
        with open_cached(spec) as source:
            if self.calls.dry_run:
                prepared = Prepared(spec.path, spec.format.lower() or "raw", spec.sha512, False)
            else:
                prepared = self.converter.prepare(
                    source, ova=spec.is_ova, accepted=self.config.disk_formats
                )
            return self._create(spec, source, prepared)

    def _create(self, spec: ImageSpec, source: VerifiedFile, prepared: Prepared) -> Image:
        visibility = self.config.visibility
        if self.config.vo_projects.get(spec.vo) and visibility == "private":
            visibility = "shared"
        attrs: dict[str, Any] = {
            "name": self._name(spec),
            "disk_format": prepared.disk_format,
            "container_format": "bare",
            "visibility": visibility,
            "tags": [self.config.tag],
            **image_properties(spec, prepared),
        }
        if self.calls.dry_run:
            self.calls.do(
                f"create image {attrs['name']!r} ({prepared.disk_format}, {visibility}) "
                f"for {spec.identifier} and upload {prepared.path}",
                lambda: None,
            )
            return Image.existing(id="(new)", name=attrs["name"], tags=attrs["tags"], status="")
        with api_errors(f"creating the image of {spec.identifier}"):
            image = Image.new(**attrs).create(image_api(self.connection))
        logger.info("glance: created image %s for %s", image.id, spec.identifier)
        try:
            with api_errors(f"uploading {prepared.path.name}"), reading(source, prepared) as data:
                size = source.size if not prepared.converted else prepared.path.stat().st_size
                image.upload(image_api(self.connection), data=data, size=size)
            with api_errors(f"reading back image {image.id}"):
                image = image_api(self.connection).get_image(image.id)
            verify_upload(image, source, prepared)
        except BaseException:
            logger.error("glance: upload of %s failed; deleting %s", spec.identifier, image.id)
            with contextlib.suppress(BackendError):
                self._delete(image)
            raise
        return image

    def _share(self, image: Image, spec: ImageSpec) -> None:
        """Share our image with the projects of its VO, and accept for them."""
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
        with api_errors(f"adding member {project} to {image.id}"):
            try:
                image_api(self.connection).add_member(image, member_id=project)
            except openstack.exceptions.ConflictException:
                logger.debug("image %s: %s is already a member", image.id, project)
        with api_errors(f"accepting image {image.id} for {project}"):
            member_connection = self._member_connection(project)
            image_api(member_connection).update_member(project, image, status="accepted")

    # --- retiring -------------------------------------------------------------------------------

    def retire(self, identifier: str, sha512: str | None, *, defer: bool) -> list[ManagedImage]:
        """Retire (or with ``defer`` mark) the images of ``identifier`` we manage or adopted."""
        done = []
        for image, claim in self._candidates(identifier):
            if self._state(image) == RETIRED:
                continue
            if sha512 and glance_source_sha512(image) != sha512:
                continue
            if defer:
                if self._state(image) != PENDING:
                    self._patch(image, {PENDING_PROPERTY: now()}, "expired: retire at run end")
            else:
                self._retire_image(image, "expired")
            done.append(self._managed(image, claim))
        if not done:
            logger.info("glance: nothing to retire for %s", identifier)
        return done

    def retire_pending(self, *, keep_session: str | None = None) -> list[ManagedImage]:
        """Retire marked images; retry deletions Glance refused (image in use)."""
        del keep_session  # marks are per image; a later run retires them all the same
        done = []
        for image, claim in self._ours():
            props = image.properties or {}
            if props.get(PENDING_PROPERTY) and not props.get(RETIRED_PROPERTY):
                self._retire_image(image, "expired earlier")
                done.append(self._managed(image, claim))
            elif props.get(DELETE_PROPERTY) and self.config.retire_mode == "delete-when-unused":
                self._try_delete(image)
        return done

    def _retire_image(self, image: Image, reason: str) -> None:
        mode = self.config.retire_mode
        logger.info("glance: retiring %s (%s, %s)", image.id, reason, mode)
        values: dict[str, Any] = {RETIRED_PROPERTY: now(), PENDING_PROPERTY: ""}
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
        with api_errors(f"deactivating {image.id}"):
            image_api(self.connection).deactivate_image(image)

    def _try_delete(self, image: Image) -> None:
        def attempt() -> None:
            try:
                with api_errors(f"deleting {image.id}"):
                    image_api(self.connection).delete_image(image, ignore_missing=True)
            except BackendError as exc:
                logger.warning("glance: %s kept (in use?): %s; deactivated instead", image.id, exc)
                if image.status == "active":
                    self._deactivate(image)
                self._patch(image, {DELETE_PROPERTY: now()}, "delete later")

        self.calls.do(f"delete image {image.id} (if unused)", attempt)
