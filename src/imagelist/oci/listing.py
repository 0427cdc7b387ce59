"""The images a registry source discovered, as an image list for a site's own endorser to sign.

A ``cosign-key`` source's images carry the trust of a cosign key, not of an IGTF endorser. A
site that wants them to go the HEPiX way (``vmcatcher_subscribe``, the cache, events, both
backends) signs them itself: :func:`source_list` wraps them in a list whose endorser is the
site's certificate (``imagelist oci discover --as-list CERT --list-uri URL``), which the site
signs with ``imagelist sign`` and subscribes to. The list lives ``lifetime_days`` (the source's
``max_age_days`` by default, else 7); its version is the UTC time, so each run is newer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from ..document import Endorser, Image, ImageList
from ..errors import ConfigurationError
from ..trust import issuer_oneline, subject_oneline

__all__ = ["source_list"]


def source_list(
    name: str,
    images: Sequence[Image],
    cert_path: Path,
    uri: str,
    *,
    lifetime_days: float = 7.0,
    now: datetime | None = None,
) -> ImageList:
    """An unsigned list of ``images`` endorsed by the certificate at ``cert_path``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        raise ConfigurationError(f"cannot read the endorser certificate {cert_path}") from None
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    return ImageList(
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"imagelist-oci-source:{name}")),
        title=f"OCI registry source {name}",
        description=f"Images of the registry source {name}, verified by imagelist oci discover",
        source="imagelist oci discover",
        created=created,
        expires=created + timedelta(days=lifetime_days),
        version=created.strftime("%Y%m%d.%H%M%S"),
        uri=uri,
        endorsers=(
            Endorser(
                dn=subject_oneline(cert),
                ca=issuer_oneline(cert),
                email="",
                creator=subject_oneline(cert),
            ),
        ),
        images=tuple(images),
    )
