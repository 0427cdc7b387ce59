"""``--upload-image`` (reference §3.5): publish a new file for an image.

Size and SHA-512 come from one pass over the file; the new ``hv:uri`` is built as vmcaster built
it; the database changes only after the transfer succeeded. Kept apart from the signing code so
that uploading an image loads no cryptography.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from ..document import is_safe_identifier
from ..errors import ImageNotListedError, ImageUriMissingError, UsageError
from ..versions import next_version
from .config import PublisherConfig
from .store import PublisherStore
from .streaming import CHUNK_SIZE, Digest, ProgressCallback, hash_file
from .transports import Transport, make_transport

__all__ = ["ImageUpload", "build_image_uri", "transport_for", "upload_image", "utc_now"]

logger = logging.getLogger(__name__)

_EXTENSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_MAGIC = {"gz": b"\x1f\x8b", "bz2": b"BZh"}


@dataclass(frozen=True)
class ImageUpload:
    """What ``--upload-image`` did. ``unchanged``: same SHA-512 as stored, nothing uploaded."""

    image: str
    imagelist: str
    digest: Digest
    unchanged: bool
    uri: str | None = None
    target: str | None = None
    version: str | None = None


def utc_now(now: datetime | None = None) -> datetime:
    """``now`` (default: the current time) in UTC, whole seconds."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def transport_for(
    config: PublisherConfig, uri: str, environ: Mapping[str, str]
) -> tuple[Transport, str]:
    """The transport of the section serving ``uri``'s host, and the target it maps to (99)."""
    host = urlsplit(uri).hostname
    transport = make_transport(config.section_for(host), environ)
    return transport, transport.target(uri)


def build_image_uri(old_uri: str, image: str, extension: str | None, when: datetime) -> str:
    """The new ``hv:uri``: same scheme, host and port, same directory, a new file name.

    The name is ``<image id>_<YYYY-MM-DD_HH-MM-SS UTC>.<hv:format or "img">``, as vmcaster made
    it (user info, query and fragment of the old URI are dropped, as they were).
    """
    if not is_safe_identifier(image):
        raise UsageError(f"image id {image!r} cannot be used in a file name")
    extension = extension or "img"
    if not _EXTENSION.fullmatch(extension) or ".." in extension:
        raise UsageError(f"hv:format {extension!r} cannot be used as a file name extension")
    parts = urlsplit(old_uri)
    if not parts.scheme or not parts.hostname:
        raise ImageUriMissingError(f"image {image}: hv:uri {old_uri!r} is not an absolute URI")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    directory = posixpath.dirname(parts.path)
    if not directory.startswith("/"):
        directory = "/" + directory
    name = f"{image}_{when.astimezone(UTC):%Y-%m-%d_%H-%M-%S}.{extension}"
    return f"{parts.scheme}://{netloc}{posixpath.join(directory, name)}"


@contextmanager
def _upload_source(path: Path, image_format: str | None) -> Iterator[Path]:
    """``path``, or a compressed copy if ``hv:format`` ends in gz/bz2 and the file is not."""
    suffix = (image_format or "").rsplit(".", 1)[-1].lower()
    magic = _MAGIC.get(suffix)
    if magic is None:
        yield path
        return
    with path.open("rb") as stream:
        if stream.read(len(magic)) == magic:
            yield path
            return
    logger.info("hv:format is %s: compressing %s", image_format, path)
    with tempfile.TemporaryDirectory(prefix="vmcaster-") as tmp:
        compressed = Path(tmp) / f"image.{suffix}"
        with path.open("rb") as source:
            target = (
                gzip.GzipFile(compressed, "wb") if suffix == "gz" else bz2.BZ2File(compressed, "wb")
            )
            with target:
                shutil.copyfileobj(source, target, CHUNK_SIZE)
        yield compressed


def upload_image(
    store: PublisherStore,
    image: str,
    path: Path,
    config: PublisherConfig,
    *,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
    environ: Mapping[str, str],
) -> ImageUpload:
    """Publish a new file for ``image``: size and SHA-512 in one pass, new URI, version bump.

    With the ``local`` protocol the file is hashed while it is copied beside the target;
    with the others it is hashed in one pass and then handed to the transfer program (which
    reads it again). If the SHA-512 equals the stored one, nothing is published.
    """
    path = path.absolute()  # a file named "-X" must reach no program as an option
    if not path.is_file():
        raise UsageError(f"image file {path} does not exist or is not a regular file")
    try:
        path.open("rb").close()
    except OSError as exc:  # pragma: no cover - every file is readable to root, who runs CI
        raise UsageError(f"cannot read image file {path}: {exc.strerror}") from None
    lists = store.imagelists_of_image(image)
    if not lists:
        raise ImageNotListedError(
            f"image {image} is in no image list: link it with --imagelist-add-image"
        )
    keys = store.keys("image", image)
    old_uri = keys.get("hv:uri")
    if not old_uri:
        raise ImageUriMissingError(
            f"image {image} has no hv:uri to derive the new URI from: "
            "set it with --key-set-image hv:uri"
        )
    when = utc_now(now)
    new_uri = build_image_uri(old_uri, image, keys.get("hv:format"), when)
    transport, target = transport_for(config, new_uri, environ)
    stored_sha = keys.get("sl:checksum:sha512")
    with _upload_source(path, keys.get("hv:format")) as source:
        if transport.streams:
            staged = transport.stage(source, new_uri, progress)
            try:
                digest = staged.digest
                if digest.sha512 == stored_sha:
                    staged.discard()
                else:
                    staged.commit()
            except BaseException:  # interrupted between copy and rename: no partial file left
                staged.discard()
                raise
        else:
            digest = hash_file(source, progress)
            if digest.sha512 != stored_sha:
                transport.put(source, new_uri)
    if digest.sha512 == stored_sha:
        logger.warning("image %s unchanged (same SHA-512): nothing uploaded", image)
        return ImageUpload(image, lists[0], digest, unchanged=True)
    version = next_version(keys.get("hv:version"))
    store.set_keys(
        "image",
        image,
        {
            "hv:size": str(digest.size),
            "sl:checksum:sha512": digest.sha512,
            "hv:version": version,
            "hv:uri": new_uri,
        },
    )
    logger.info("image %s version %s published at %s", image, version, new_uri)
    return ImageUpload(image, lists[0], digest, False, new_uri, target, version)
