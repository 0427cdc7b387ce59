"""``--upload-imagelist`` (reference §3.6): sign an image list and publish it.

Check everything that can be checked locally (keys, endorser, certificate, upload target),
then sign, transfer atomically, and only after the transfer succeeded record the new version
and dates. A failed transfer leaves the database and the published list as they were.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from ..companions import companion_names, make_companions
from ..document import REQUIRED_ENDORSER_KEYS, REQUIRED_IMAGE_KEYS, ImageList, format_date
from ..errors import (
    DocumentError,
    PublishRequiredKeysError,
    SigningEndorserMismatchError,
    UsageError,
)
from ..openpgp import SigningKey
from ..smime import sign_detached
from ..trust import issuer_oneline, subject_oneline
from ..versions import next_version
from .config import PublisherConfig
from .credentials import (
    CredentialPaths,
    PassphraseSource,
    check_key_usage,
    load_certificate,
    load_private_key,
)
from .store import LinkedEndorser, PublisherStore, vmcaster_json
from .transports import PARTIAL_MODE
from .upload import transport_for, utc_now

__all__ = ["DEFAULT_LIFETIME_DAYS", "USER_LIST_KEYS", "ListPublication", "upload_imagelist"]

logger = logging.getLogger(__name__)

DEFAULT_LIFETIME_DAYS = 28
#: List keys the endorser must set; the others are generated (id, dates, version, structure).
USER_LIST_KEYS = ("dc:title", "dc:description", "dc:source", "hv:uri")
_SHA512 = re.compile(r"[0-9a-f]{128}")


@dataclass(frozen=True)
class ListPublication:
    """What ``--upload-imagelist`` published."""

    imagelist: str
    uri: str
    target: str
    version: str
    created: datetime
    expires: datetime
    signed: bytes
    #: What a ``marketplace`` server answered: the created version (id, appliance, version,
    #: state, url); None for the other protocols.
    receipt: Mapping[str, Any] | None = None
    #: The fingerprint of the OpenPGP key that signed ``image.list.json`` (ADR 21), if any.
    openpgp: str | None = None


# --- image lists ----------------------------------------------------------------------------------


def _missing_keys(
    identifier: str,
    keys: Mapping[str, str],
    images: Sequence[Mapping[str, Any]],
    endorsers: Sequence[LinkedEndorser],
    signer: LinkedEndorser | None,
) -> list[str]:
    problems: list[str] = []
    missing = [key for key in USER_LIST_KEYS if key not in keys]
    if missing:
        problems.append(f"image list {identifier}: {', '.join(missing)}")
    for image in images:
        missing = [key for key in REQUIRED_IMAGE_KEYS if key not in image]
        if missing:
            problems.append(f"image {image['dc:identifier']}: {', '.join(missing)}")
        elif not isinstance(image["hv:size"], int) or image["hv:size"] < 0:
            problems.append(f"image {image['dc:identifier']}: hv:size is not a byte count")
        elif not _SHA512.fullmatch(str(image["sl:checksum:sha512"])):
            problems.append(
                f"image {image['dc:identifier']}: sl:checksum:sha512 is not 128 lower-case hex"
            )
    if not endorsers:
        problems.append("an endorser (link one with --imagelist-add-endorser)")
    elif signer is not None:
        missing = [key for key in REQUIRED_ENDORSER_KEYS if key not in signer.x509()]
        if missing:
            problems.append(f"endorser {signer.subject}: {', '.join(missing)}")
    return problems


def _signing_endorser(
    identifier: str, endorsers: Sequence[LinkedEndorser], certificate: x509.Certificate
) -> tuple[LinkedEndorser | None, str | None]:
    """The linked endorser with the certificate's subject, and why it does not fit (or None)."""
    subject = subject_oneline(certificate)
    issuer = issuer_oneline(certificate)
    # The OpenSSL 1.x spelling only where it is the same string: subscribers compare the OpenSSL 3
    # form exactly (ADR 8), so a list signed under another spelling would be refused anyway.
    subjects = (subject,)
    issuers = (issuer,)
    cert_text = f"certificate subject {subject!r} issuer {issuer!r}"
    match = next((e for e in endorsers if e.subject in subjects), None)
    if match is None:
        linked = "; ".join(
            f"hv:dn {e.subject!r} hv:ca {e.keys.get('hv:ca', '')!r}" for e in endorsers
        )
        return None, (
            f"no endorser of image list {identifier} has the signing certificate's subject: "
            f"{cert_text}; linked endorser(s): {linked or 'none'}"
        )
    ca = match.keys.get("hv:ca")
    if ca is not None and ca not in issuers:
        return match, (
            f"endorser hv:dn {match.subject!r} has hv:ca {ca!r} but the signing {cert_text}"
        )
    return match, None


def upload_imagelist(
    store: PublisherStore,
    identifier: str,
    config: PublisherConfig,
    credentials: CredentialPaths,
    passphrase: PassphraseSource,
    *,
    lifetime_days: int = DEFAULT_LIFETIME_DAYS,
    digest: str = "sha256",
    now: datetime | None = None,
    environ: Mapping[str, str],
    allow_open_key: bool = False,
    openpgp_key: SigningKey | None = None,
    openpgp_loader: Callable[[str], SigningKey] | None = None,
) -> ListPublication:
    """Sign and publish a list: checks, new version and dates, S/MIME, atomic upload, DB.

    Unlike vmcaster 0.0.x, the dates and version need not be set beforehand (they are
    generated), and an empty list is published with ``"hv:images": []``. With ``openpgp_key``
    the list's URI also gets ``.json`` (the S/MIME-signed bytes) and ``.json.asc`` (their
    detached OpenPGP signature), uploaded with it (:meth:`Transport.put_many`; ADR 21).
    Without it, the section's ``openpgpKey`` (vmcaster.cfg) is loaded with ``openpgp_loader``.
    """
    if lifetime_days < 1:
        raise UsageError(f"image list lifetime must be at least 1 day, not {lifetime_days}")
    certificate = load_certificate(credentials.cert)
    check_key_usage(certificate, credentials.cert)
    keys, images, endorsers = store.list_content(identifier)
    signer, mismatch = _signing_endorser(identifier, endorsers, certificate)
    problems = _missing_keys(identifier, keys, images, endorsers, signer)
    if problems:
        raise PublishRequiredKeysError(
            f"cannot publish image list {identifier}, required keys missing: " + "; ".join(problems)
        )
    if mismatch is not None or signer is None:
        raise SigningEndorserMismatchError(mismatch or "no signing endorser")
    uri = keys["hv:uri"]
    transport, target = transport_for(config, uri, environ)
    configured = transport.section.options.get("openpgpKey")
    if openpgp_key is None and configured and openpgp_loader is not None:
        openpgp_key = openpgp_loader(str(Path(str(configured)).expanduser()))
    key = load_private_key(credentials.key, certificate, passphrase, allow_open=allow_open_key)

    when = utc_now(now)
    expires = when + timedelta(days=lifetime_days)
    version = next_version(keys.get("hv:version"))
    generated = {
        "hv:version": version,
        "dc:date:created": format_date(when),
        "dc:date:expires": format_date(expires),
    }
    body: dict[str, Any] = {**keys, **generated}
    body["hv:images"] = [{"hv:image": image} for image in images]
    body["dc:identifier"] = identifier
    body["hv:endorser"] = {"hv:x509": signer.x509()}
    document = {"hv:imagelist": body}
    # A safety net: the checks above should leave nothing for subscribers to refuse or drop.
    try:
        parsed = ImageList.from_dict(document)
    except DocumentError as exc:  # pragma: no cover - defensive
        raise PublishRequiredKeysError(
            f"image list {identifier} would not be readable by subscribers: {exc}"
        ) from None
    if parsed.dropped_images:  # pragma: no cover - defensive
        dropped = parsed.dropped_images[0]
        raise PublishRequiredKeysError(
            f"image {dropped.identifier} would be dropped by subscribers: {dropped.reason}"
        )
    payload = vmcaster_json(document).encode("utf-8")
    signed = sign_detached(payload, certificate, key, digest=digest)
    files: list[tuple[str, bytes, str]] = []
    if openpgp_key is not None:
        companions = make_companions(payload, openpgp_key, now=when)
        json_uri, asc_uri = companion_names(uri)
        files += [("image.list.json", companions.json, json_uri)]
        files += [("image.list.json.asc", companions.signature, asc_uri)]
    files.append(("image.list", signed, uri))  # the list last: its companions are there first

    with tempfile.TemporaryDirectory(prefix="vmcaster-") as tmp:
        uploads = []
        for name, data, target_uri in files:
            path = Path(tmp) / name
            path.write_bytes(data)
            # Copies made from it (scp's temporary file) stay private until they are renamed.
            path.chmod(PARTIAL_MODE)
            uploads.append((path, target_uri))
        transport.put_many(uploads)
    store.record_publication(identifier, generated, when)
    logger.info("image list %s version %s published at %s", identifier, version, uri)
    receipt = getattr(transport, "receipt", None)
    fingerprint = openpgp_key.fingerprint if openpgp_key is not None else None
    return ListPublication(
        identifier, uri, target, version, when, expires, signed, receipt, fingerprint
    )
