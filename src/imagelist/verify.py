"""Verify a signed image list: signature, trust path, document and endorser, in that order.

This is the pure *verify* step of the subscriber (reference §1.5 steps 2-6): it takes the bytes
of a downloaded list and a loaded :class:`~imagelist.trust.TrustStore` and either returns a
:class:`VerifiedList` or raises a typed :class:`~imagelist.errors.ImageListError` whose exit code
is the one vmcatcher used. The time-dependent list rules (§1.5 steps 9-10) are in
:func:`check_dates`, so that a caller can pin the clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .document import Endorser, ImageList
from .errors import (
    AmbiguousNameError,
    CreatedInFutureError,
    EndorserMismatchError,
    ListExpiredError,
)
from .smime import SignedMessage, read_signed
from .trust.chain import CrlPolicy, validate_signer
from .trust.dn import ambiguity, issuer_oneline, subject_oneline
from .trust.keys import KeyPolicy
from .trust.store import TrustStore

__all__ = ["ListVerifier", "VerifiedList", "check_dates"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifiedList:
    """A list whose signature, signer path and endorser DNs checked out."""

    imagelist: ImageList
    endorser: Endorser
    message: SignedMessage
    chain: tuple[x509.Certificate, ...]
    signer_dn: str
    signer_ca: str

    @property
    def payload(self) -> bytes:
        """The exact signed bytes (the JSON text in canonical CRLF form)."""
        return self.message.payload


class ListVerifier:
    """Verifies signed image lists against one trust store, loaded once per process."""

    def __init__(
        self,
        store: TrustStore,
        *,
        crl_policy: CrlPolicy = CrlPolicy.REQUIRE,
        remember_paths: bool = False,
        key_policy: KeyPolicy | None = None,
    ) -> None:
        """``remember_paths``: validate each signer's certificate path (for the same check time
        and the same certificates) only once, for a verifier that lives for one run of many lists.
        Every list's signature, document and DNs are still checked in full."""
        self.store = store
        self.crl_policy = crl_policy
        self.key_policy = key_policy or KeyPolicy()
        self._paths: dict[tuple[bytes, ...], tuple[x509.Certificate, ...]] | None = (
            {} if remember_paths else None
        )

    def verify_message(self, data: bytes, *, at: datetime | None = None) -> VerifiedMessage:
        """Check the S/MIME signature and the signer's path; do not look at the content."""
        message = read_signed(data)
        key: tuple[bytes, ...] = ()
        if self._paths is not None:
            key = (
                str(at).encode(),
                message.signer.public_bytes(Encoding.DER),
                *(cert.public_bytes(Encoding.DER) for cert in message.certificates),
            )
            remembered = self._paths.get(key)
            if remembered is not None:
                return VerifiedMessage(message, remembered)
        chain = validate_signer(
            self.store,
            message.signer,
            at=at,
            untrusted=message.certificates,
            crl_policy=self.crl_policy,
            key_policy=self.key_policy,
        )
        if self._paths is not None:
            self._paths[key] = chain
        return VerifiedMessage(message, chain)

    def verify(self, data: bytes, *, at: datetime | None = None) -> VerifiedList:
        """Signature, trust path, document, then ``hv:dn``/``hv:ca`` against the signer."""
        checked = self.verify_message(data, at=at)
        imagelist = ImageList.from_bytes(checked.message.payload)
        signer = checked.message.signer
        signer_dn, signer_ca = subject_oneline(signer), issuer_oneline(signer)
        # Only the exact OpenSSL 3 form of a name no other name renders alike (ADR 8): the 1.x
        # spelling is accepted where it is the same string, never where it differs.
        for what, name in (("subject", signer.subject), ("issuer", signer.issuer)):
            reason = ambiguity(name.public_bytes())
            if reason is not None:
                shown = signer_dn if what == "subject" else signer_ca
                raise AmbiguousNameError(
                    f"signer {what} {shown!r} cannot be compared with hv:dn/hv:ca safely: "
                    f"{reason}, so another name has the same one-line form"
                )
        endorser = next(
            (
                candidate
                for candidate in imagelist.endorsers
                if candidate.dn == signer_dn and candidate.ca == signer_ca
            ),
            None,
        )
        if endorser is None:
            claimed = imagelist.endorser
            raise EndorserMismatchError(
                f"endorser in the list (hv:dn {claimed.dn!r}, hv:ca {claimed.ca!r}) is not the "
                f"signer (subject {signer_dn!r}, issuer {signer_ca!r})"
            )
        return VerifiedList(
            imagelist=imagelist,
            endorser=endorser,
            message=checked.message,
            chain=checked.chain,
            signer_dn=signer_dn,
            signer_ca=signer_ca,
        )


@dataclass(frozen=True)
class VerifiedMessage:
    """A message whose signature and signer path checked out, content not yet interpreted."""

    message: SignedMessage
    chain: tuple[x509.Certificate, ...]


def check_dates(imagelist: ImageList, *, now: datetime | None = None) -> None:
    """Reject a list created in the future (exit 33) or already expired (exit 34)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    if when < imagelist.created:
        raise CreatedInFutureError(
            f"image list {imagelist.identifier} was created in the future "
            f"(dc:date:created {imagelist.created:%Y-%m-%dT%H:%M:%SZ})"
        )
    if when > imagelist.expires:
        raise ListExpiredError(
            f"image list {imagelist.identifier} expired at {imagelist.expires:%Y-%m-%dT%H:%M:%SZ}"
        )
