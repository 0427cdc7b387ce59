"""The OpenNebula backend (pyone over XML-RPC; ONE_XMLRPC / ONE_AUTH as the ONE tools read them).

Images are found by their template attribute ``VMCATCHER_EVENT_DC_IDENTIFIER``, as the CESGA
handler found them (and by ``CLOUDKEEPER_APPLIANCE_ID`` for cloudkeeper-one's images), but only
images owned by our user and group (``owner_uid``/``owner_gid``, default: the user of the
credentials) and marked ``IMAGELIST_MANAGED_BY`` are ours; other tools' images of that owner
are adopted only with ``adopt = true`` (:mod:`.ownership`). Templates are sent as XML, so every
value is escaped (the CESGA handler pasted values into quotes). The cached file is verified
before it is converted or allocated (:mod:`.source`). An update allocates the new image first
(under a temporary name while the old one holds the identifier as its name), gives it our owner
and group, copies permissions and the disabled state from our previous image, then retires the
old one: renamed ``<dc:identifier>_EXPIRED_<timestamp>``, permissions owner-only (600),
disabled. Retired images are deleted later only when not used, and only if ``delete_retired``
is set.

Verified against a fake of oned (tests/fakes/oned.py), not against a real oned.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import BackendConfigError, BackendError
from ..events.model import EVENT_PREFIX
from .base import ACTIVE, PENDING, RETIRED, Calls, ImageSpec, ManagedImage, now
from .convert import NO_ENVIRONMENT, Converter, Prepared
from .one_client import OneClient, OpenNebulaConfig, read_session
from .one_images import (
    DISABLED,
    ERROR,
    EXPIRED_FORMAT,
    IN_USE,
    PENDING_ATTRIBUTE,
    PERMISSION_FIELDS,
    READY,
    RETIRED_ATTRIBUTE,
    bits,
    identifier_of,
    managed,
    sha512_of,
    state_of,
    template_xml,
    text,
)
from .ownership import ONE_MANAGED, ONE_SHA, OURS, Claim, one_claim, one_is_current, one_template
from .source import open_cached

__all__ = [
    "OneClient",
    "OpenNebulaBackend",
    "OpenNebulaConfig",
    "read_session",
    "template_xml",
]

logger = logging.getLogger(__name__)


class OpenNebulaBackend:
    """Publish, retire and list images in one OpenNebula."""

    name = "opennebula"

    def __init__(
        self,
        config: OpenNebulaConfig,
        client: OneClient,
        *,
        dry_run: bool = False,
        converter: Converter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] = NO_ENVIRONMENT,
    ) -> None:
        self.config = config
        self.client = client
        self.calls = Calls("opennebula", dry_run=dry_run)
        self.converter = converter or Converter(
            config.conversion_path(environ),
            timeout=config.conversion_timeout,
            max_expansion=config.max_expansion,
            environ=environ,
        )
        self._sleep = sleep
        self._owner: tuple[int, int] | None = None

    # --- reading ----------------------------------------------------------------------------

    @property
    def owner(self) -> tuple[int, int]:
        """(UID, GID) of our images: the configured ones, else the credentials' user's."""
        if self._owner is None:
            uid, gid = self.config.owner_uid, self.config.owner_gid
            if uid < 0 or gid < 0:
                user = self.client.call("user.info", -1)
                uid = int(user.ID) if uid < 0 else uid
                gid = int(user.GID) if gid < 0 else gid
            self._owner = (uid, gid)
        return self._owner

    def _claimed(self) -> list[tuple[Any, Claim]]:
        """The images of the pool that are ours or adoptable (every other one is foreign)."""
        pool = self.client.call("imagepool.info", -2, -1, -1)
        uid, gid = self.owner
        claimed = [
            (image, one_claim(image, uid=uid, gid=gid, adopt=self.config.adopt))
            for image in getattr(pool, "IMAGE", None) or []
        ]
        return [(image, claim) for image, claim in claimed if claim.managed]

    def _managed(self, image: Any, claim: Claim) -> ManagedImage:
        return managed(image, claim)

    def list_images(self) -> list[ManagedImage]:
        """Our images, and other tools' images we may adopt."""
        return sorted(
            (self._managed(i, c) for i, c in self._claimed() if identifier_of(i)),
            key=lambda m: (m.identifier, int(m.backend_id)),
        )

    def _candidates(self, identifier: str) -> list[tuple[Any, Claim]]:
        return [(i, c) for i, c in self._claimed() if identifier_of(i) == identifier]

    def _datastore_id(self) -> int:
        wanted = self.config.datastore
        pool = self.client.call("datastorepool.info")
        for store in getattr(pool, "DATASTORE", None) or []:
            if text(store.NAME) == wanted or text(store.ID) == wanted:
                if int(store.TYPE) != 0:
                    raise BackendConfigError(f"OpenNebula datastore {wanted!r} is not an image one")
                return int(store.ID)
        raise BackendConfigError(f"OpenNebula has no datastore {wanted!r}")

    # --- writing ----------------------------------------------------------------------------

    def _call(self, description: str, method: str, *args: Any) -> Any:
        return self.calls.do(description, self.client.call, method, *args)

    def _mark(self, image: Any, attributes: dict[str, str], description: str) -> None:
        self._call(
            f"{description}: one.image.update {image.ID} {attributes}",
            "image.update",
            int(image.ID),
            template_xml(attributes),
            1,
        )

    def publish(self, spec: ImageSpec) -> ManagedImage:
        """Allocate the image of ``spec`` (or find it), then retire the ones it supersedes."""
        live = [(i, c) for i, c in self._candidates(spec.identifier) if state_of(i) != RETIRED]
        for image, claim in live:
            if one_is_current(image, claim, spec.sha512) and int(image.STATE) == ERROR:
                self._call(f"delete failed image {image.ID}", "image.delete", int(image.ID))
        live = [(i, c) for i, c in live if int(i.STATE) != ERROR or c.kind != OURS]
        current = next(
            (i for i, c in live if one_is_current(i, c, spec.sha512) and int(i.STATE) != ERROR),
            None,
        )
        previous = [i for i, _ in live if i is not current]
        if current is not None:
            logger.info("opennebula: %s is image %s already", spec.identifier, current.ID)
            if state_of(current) == PENDING:
                self._mark(current, {PENDING_ATTRIBUTE: ""}, "listed again: not retired")
            self._finish(current, spec.identifier, previous)
            return self._managed(current, Claim(OURS))
        new = self._allocate(spec, taken=any(text(i.NAME) == spec.identifier for i in previous))
        if new is None:  # dry-run
            for image in previous:
                self._retire_image(image, "superseded")
            return ManagedImage("(new)", spec.identifier, spec.sha512, ACTIVE, spec.identifier)
        self._inherit(new, [i for i, c in live if c.kind == OURS])
        self._finish(new, spec.identifier, previous)
        return self._managed(self.client.call("image.info", int(new.ID)), Claim(OURS))

    def _finish(self, image: Any, identifier: str, previous: list[Any]) -> None:
        for old in previous:
            self._retire_image(old, f"superseded by {image.ID}")
        if text(image.NAME) != identifier:
            description = f"rename image {image.ID} to {identifier}"
            self._call(description, "image.rename", int(image.ID), identifier)

    def _attributes(self, spec: ImageSpec, prepared: Prepared) -> dict[str, str]:
        attributes = {
            "NAME": spec.identifier,
            "PATH": str(prepared.path),
            "TYPE": "OS",
            "DESCRIPTION": spec.description or spec.title or spec.identifier,
        }
        if prepared.disk_format in ("raw", "qcow2"):
            attributes["DRIVER"] = prepared.disk_format
        for key, value in spec.variables.items():
            if key.startswith(EVENT_PREFIX) and value and key != EVENT_PREFIX + "UUID_SESSION":
                attributes[key] = value
        attributes[ONE_MANAGED] = "imagelist"
        attributes[ONE_SHA] = spec.sha512
        if prepared.converted:
            attributes["IMAGELIST_UPLOADED_SHA512"] = prepared.sha512
        return attributes

    def _allocate(self, spec: ImageSpec, *, taken: bool) -> Any:
        datastore = self._datastore_id()
        with open_cached(spec) as source:  # oned's datastore driver then copies PATH itself
            if self.calls.dry_run:
                prepared = Prepared(spec.path, spec.format.lower(), spec.sha512, False)
            else:
                prepared = self.converter.prepare(
                    source, ova=spec.is_ova, accepted=self.config.disk_formats
                )
        attributes = self._attributes(spec, prepared)
        if taken:  # the old image still holds the name until it is retired
            attributes["NAME"] = f"{spec.identifier}_NEW_{spec.sha512[:12]}"
        image_id = self._call(
            f"one.image.allocate {attributes['NAME']} in datastore {datastore} "
            f"from {prepared.path}",
            "image.allocate",
            template_xml(attributes),
            datastore,
        )
        if image_id is None:
            return None
        return self._wait_ready(int(image_id), spec.identifier)

    def _wait_ready(self, image_id: int, identifier: str) -> Any:
        deadline = time.monotonic() + self.config.ready_timeout
        while True:
            image = self.client.call("image.info", image_id)
            state = int(image.STATE)
            if state in (READY, DISABLED):
                return image
            if state == ERROR or time.monotonic() >= deadline:
                why = text(one_template(image).get("ERROR")) or "timed out"
                with contextlib.suppress(BackendError):
                    self.client.call("image.delete", image_id)
                raise BackendError(f"OpenNebula image {image_id} for {identifier} failed: {why}")
            self._sleep(self.config.poll_interval)

    def _inherit(self, new: Any, ours: list[Any]) -> None:
        """Our owner and group; permissions and disabled state of our newest previous image
        (never of an image we did not make), else the configured ``permissions``."""
        image_id = int(new.ID)
        uid, gid = self.owner
        if (int(new.UID), int(new.GID)) != (uid, gid):
            self._call(f"chown image {image_id} to {uid}:{gid}", "image.chown", image_id, uid, gid)
        if not ours:
            if self.config.permissions:
                chmod = bits(self.config.permissions)
                description = f"chmod image {image_id} {self.config.permissions}"
                self._call(description, "image.chmod", image_id, *chmod)
            return
        old = max(ours, key=lambda i: int(i.ID))
        inherited = [int(getattr(old.PERMISSIONS, name)) for name in PERMISSION_FIELDS]
        description = f"chmod image {image_id} as image {old.ID}"
        self._call(description, "image.chmod", image_id, *inherited)
        if int(old.STATE) == DISABLED:
            self._call(f"disable image {image_id} (as {old.ID})", "image.enable", image_id, False)

    # --- retiring -------------------------------------------------------------------------------

    def retire(self, identifier: str, sha512: str | None, *, defer: bool) -> list[ManagedImage]:
        """Retire (or with ``defer`` mark) the live images of ``identifier``."""
        done = []
        for image, claim in self._candidates(identifier):
            if state_of(image) == RETIRED or (sha512 and sha512_of(image) != sha512):
                continue
            if defer:
                if state_of(image) != PENDING:
                    self._mark(image, {PENDING_ATTRIBUTE: now()}, "expired: retire at run end")
            else:
                self._retire_image(image, "expired")
            done.append(self._managed(image, claim))
        return done

    def retire_pending(self, *, keep_session: str | None = None) -> list[ManagedImage]:
        """Retire marked images; disable retired ones still enabled; delete unused old ones."""
        del keep_session
        done = []
        for image, claim in self._claimed():
            if not identifier_of(image):
                continue
            state = state_of(image)
            if state == PENDING:
                self._retire_image(image, "expired earlier")
                done.append(self._managed(image, claim))
            elif state == RETIRED and self.config.delete_retired:
                self._maybe_delete(image)
        return done

    def _retire_image(self, image: Any, reason: str) -> None:
        image_id = int(image.ID)
        identifier = identifier_of(image)
        stamp = datetime.now(UTC)
        # The image id keeps two retirements of one identifier within a second apart.
        name = f"{identifier}_EXPIRED_{stamp.strftime(EXPIRED_FORMAT)}_{image_id}"
        logger.info("opennebula: retiring image %s (%s)", image_id, reason)
        self._mark(
            image,
            {RETIRED_ATTRIBUTE: stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), PENDING_ATTRIBUTE: ""},
            f"retire ({reason})",
        )
        self._call(f"rename image {image_id} to {name}", "image.rename", image_id, name)
        self._call(f"chmod image {image_id} 600", "image.chmod", image_id, *bits("600"))
        if int(image.STATE) in (READY, ERROR):
            self._call(f"disable image {image_id}", "image.enable", image_id, False)
        elif int(image.STATE) != DISABLED:
            logger.warning(
                "opennebula: image %s is in use (state %s); not disabled", image_id, image.STATE
            )

    def _maybe_delete(self, image: Any) -> None:
        retired = text(one_template(image).get(RETIRED_ATTRIBUTE))
        try:
            when = datetime.strptime(retired, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return  # retired by another tool: not ours to delete
        if datetime.now(UTC) - when < timedelta(days=self.config.delete_retired_after_days):
            return
        if int(image.STATE) in IN_USE or int(getattr(image, "RUNNING_VMS", 0) or 0) > 0:
            logger.info("opennebula: retired image %s still used; kept", image.ID)
            return
        self._call(f"delete retired image {image.ID}", "image.delete", int(image.ID))
