"""The Glance Image v2 calls the Glance backend makes beside openstacksdk's, with one-line errors.

openstacksdk's ``images()`` drops property filters it does not know, and its ``update_image``
replaces the whole property set (which Glance refuses), so listing and patching go through the
image adapter directly: filters in the query (checked again on the client), explicit JSON patches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import urlencode

import openstack
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
from ..oci.annotations import glance_properties as oci_glance_properties
from .base import ImageSpec
from .convert import Prepared
from .ownership import GLANCE_SHA, GLANCE_UPLOADED_SHA
from .source import VerifiedFile

__all__ = [
    "api_errors",
    "image_api",
    "image_properties",
    "matches",
    "patch_image",
    "query_images",
    "reading",
    "verify_upload",
]

_PATCH = "application/openstack-images-v2.1-json-patch"


@contextlib.contextmanager
def api_errors(what: str) -> Iterator[None]:
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


def matches(image: Image, query: Mapping[str, str]) -> bool:
    """Whether ``image`` has every property (``tag``: tag, ``owner``: owner) of ``query``."""
    props = image.properties or {}
    for key, value in query.items():
        if key == "tag":
            if value not in (image.tags or []):
                return False
        elif key == "owner":
            if str(image.owner or "") != value:
                return False
        elif str(props.get(key, "")) != value:
            return False
    return True


def query_images(
    connection: openstack.connection.Connection, query: Mapping[str, str]
) -> list[Image]:
    """Images (hidden ones included) matching ``query``, sent as Glance v2 filters, then
    checked again here: nothing is acted on that does not match."""
    found: dict[str, Image] = {}
    api = image_api(connection)
    with api_errors("listing images"):
        for hidden in ("false", "true"):
            url: str | None = "/images?" + urlencode({**query, "os_hidden": hidden, "limit": "100"})
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
    return [image for image in found.values() if matches(image, query)]


def patch_image(
    connection: openstack.connection.Connection,
    image: Image,
    values: Mapping[str, Any],
    description: str,
) -> None:
    """Set ``values`` (properties, or attributes such as visibility, os_hidden) by JSON patch."""
    current = {**(image.properties or {})}
    operations = [
        {
            "op": "replace" if key in current or key in ("visibility", "os_hidden") else "add",
            "path": f"/{key}",
            "value": value,
        }
        for key, value in values.items()
    ]
    with api_errors(description):
        response = image_api(connection).patch(
            f"/images/{image.id}",
            json=operations,
            headers={"Content-Type": _PATCH},
            raise_exc=False,
        )
        openstack.exceptions.raise_from_response(response)


@contextlib.contextmanager
def reading(source: VerifiedFile, prepared: Prepared) -> Iterator[BinaryIO]:
    """What is uploaded: the verified cached file itself, or the extracted / converted one."""
    if not prepared.converted:
        yield source.rewind()
        return
    with prepared.path.open("rb") as handle:
        yield handle


def verify_upload(image: Image, source: VerifiedFile, prepared: Prepared) -> None:
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
        with reading(source, prepared) as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        expected = digest.hexdigest()
    if str(image.hash_value or "").lower() != expected:
        raise BackendVerificationError(
            f"image {image.id}: Glance os_hash_value ({algorithm}) "
            f"{str(image.hash_value)[:16]}... differs from the file's {expected[:16]}..."
        )


def image_properties(spec: ImageSpec, prepared: Prepared) -> dict[str, str]:
    """The properties of our image of ``spec`` (EGI conventions, and what we recorded)."""
    props = {
        key.lower(): value
        for key, value in spec.variables.items()
        if key.startswith(EVENT_PREFIX) and value
    }
    props.update(
        {
            "APPLIANCE_ATTRIBUTES": json.dumps(dict(spec.attributes), sort_keys=True),
            "image_list": spec.list_id,
            GLANCE_SHA: spec.sha512,
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
        props[GLANCE_UPLOADED_SHA] = prepared.sha512
    props.update(oci_glance_properties(spec.attributes))  # atrope's, for oci:// images
    return {k: v for k, v in props.items() if v}
