"""One exception tree for the whole package.

Every error the tools can report derives from :class:`ImageListError`. Each class knows the exit
code the original vmcatcher/vmcaster tools used for that failure (reference §2.8) and renders
itself as a single line for the command line; ``-v`` shows the traceback, nothing else does.
"""

from __future__ import annotations

__all__ = [
    "CertificateExpiredError",
    "CertificateRevokedError",
    "ChainError",
    "CreatedInFutureError",
    "CrlError",
    "DatabaseError",
    "DocumentError",
    "EndorserMismatchError",
    "EndorserNotAuthorisedError",
    "FetchError",
    "ImageListError",
    "KeyUsageError",
    "ListExpiredError",
    "ListIdMismatchError",
    "MimeFormatError",
    "NamespacePolicyError",
    "NewImageRefusedError",
    "NoTrustAnchorsError",
    "SignatureError",
    "SignerCountError",
    "TrustStoreError",
    "UntrustedSignerError",
    "UsageError",
    "VerificationError",
    "VersionLowerError",
]


class ImageListError(Exception):
    """Root of every error imagelist raises on purpose.

    ``str(error)`` is one line that names the problem; ``exit_code`` is what a CLI exits with.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        # Keep the message on one line whatever the input was.
        super().__init__(" ".join(message.split()))
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class UsageError(ImageListError):
    """Bad command-line usage or configuration (exit 1, as the old tools)."""

    exit_code = 1


# --- the document --------------------------------------------------------------------------------


class DocumentError(ImageListError):
    """The image list is not a valid document: bad JSON, missing keys, bad dates (exit 38)."""

    exit_code = 38


# --- S/MIME and trust (the old tools reported all of these as 11) --------------------------------


class VerificationError(ImageListError):
    """The signed message could not be verified (exit 11, as smimeX509validation failures)."""

    exit_code = 11


class MimeFormatError(VerificationError):
    """The message is not well-formed S/MIME (broken MIME, base64 or CMS structure)."""


class SignatureError(VerificationError):
    """The content digest or the signature value does not match."""


class SignerCountError(VerificationError):
    """The signature does not carry exactly one signer."""


class TrustStoreError(ImageListError):
    """The trust directory cannot be read (exit 14: trust anchor missing)."""

    exit_code = 14


class NoTrustAnchorsError(TrustStoreError):
    """The trust directory holds no usable CA certificate (exit 12, as vmcatcher)."""

    exit_code = 12


class ChainError(VerificationError):
    """No valid certificate path from the signer to a trusted CA."""


class UntrustedSignerError(ChainError):
    """The signer's issuer chain does not end at a CA of the trust directory."""


class CertificateExpiredError(ChainError):
    """A certificate of the path is not valid at the check time."""


class CertificateRevokedError(ChainError):
    """A certificate of the path is listed in its issuer's CRL."""


class CrlError(ChainError):
    """A CA of the path has no current, validly signed CRL."""


class KeyUsageError(ChainError):
    """A certificate's key usage or extended key usage does not allow S/MIME signing."""


class NamespacePolicyError(ChainError):
    """The subject is outside the namespace its CA may sign for (.namespaces/.signing_policy)."""


# --- list acceptance rules (vmcatcher -U) --------------------------------------------------------


class EndorserMismatchError(ImageListError):
    """The list's hv:dn/hv:ca differ from the signer certificate (exit 12)."""

    exit_code = 12


class EndorserNotAuthorisedError(ImageListError):
    """The signer is not an endorser linked to the subscription (exit 13)."""

    exit_code = 13


class VersionLowerError(ImageListError):
    """The list version is lower than the accepted one: a rollback (exit 17)."""

    exit_code = 17


class ListIdMismatchError(ImageListError):
    """The list's dc:identifier differs from the subscription's (exit 31)."""

    exit_code = 31


class NewImageRefusedError(ImageListError):
    """A new image id was refused by the subscription's update mode (exit 32)."""

    exit_code = 32


class CreatedInFutureError(ImageListError):
    """dc:date:created lies in the future (exit 33)."""

    exit_code = 33


class ListExpiredError(ImageListError):
    """dc:date:expires has passed (exit 34)."""

    exit_code = 34


# --- transport: fetching lists and images --------------------------------------------------------


class FetchError(ImageListError):
    """A list or image could not be retrieved: network, HTTP status, timeout, size cap (exit 10)."""

    exit_code = 10


class DatabaseError(ImageListError):
    """The database cannot be opened, migrated or written (exit 36)."""

    exit_code = 36


# --- publisher (vmcaster): helper-owned section, add vmcaster errors below this line -------------


# --- subscriber (vmcatcher): helper-owned section, add vmcatcher errors below this line ----------
