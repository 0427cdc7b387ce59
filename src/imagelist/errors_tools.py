"""The errors of the tools: verification and trust, list acceptance, vmcaster, vmcatcher, the
cloud backends and the cache, each class with the exit code the old tools used (reference §2.8).
Re-exported by :mod:`imagelist.errors`, the one place to import them from."""

from __future__ import annotations

from .errors_base import (
    DatabaseError,
    DocumentError,
    FetchError,
    ImageListError,
    UsageError,
)

__all__ = [
    "AmbiguousNameError",
    "BackendConfigError",
    "BackendError",
    "BackendUnavailableError",
    "BackendVerificationError",
    "CacheError",
    "CacheIndexError",
    "CachedFileError",
    "CertificateExpiredError",
    "CertificateRevokedError",
    "ChainError",
    "ConversionError",
    "CreatedInFutureError",
    "CrlError",
    "DiskSpaceError",
    "DownloadError",
    "EndorserMismatchError",
    "EndorserNotAuthorisedError",
    "EndorserRegistryError",
    "EventDataError",
    "FetchTimeoutError",
    "HandlerError",
    "HttpStatusError",
    "ImageConflictError",
    "ImageNotListedError",
    "ImageUriMissingError",
    "ImageVerificationError",
    "ImportDocumentError",
    "ImportNullError",
    "KeyUsageError",
    "LegacyDatabaseError",
    "ListDownloadError",
    "ListExpiredError",
    "ListIdMismatchError",
    "ListMovedError",
    "ListTooLargeError",
    "MimeFormatError",
    "NamespacePolicyError",
    "NewImageRefusedError",
    "NoTrustAnchorsError",
    "PublishConfigError",
    "PublishObjectNotFoundError",
    "PublishRequiredKeysError",
    "SameVersionChangedError",
    "SelectionError",
    "SignatureError",
    "SignerCountError",
    "SigningCertPathError",
    "SigningCredentialError",
    "SigningCredentialMissingError",
    "SigningEndorserMismatchError",
    "SigningKeyPathError",
    "SigningKeyUsageError",
    "SigningKeyUsageMissingError",
    "SubscribeError",
    "TrustStoreError",
    "UnsafeIdentifierError",
    "UntrustedSignerError",
    "UploadFailedError",
    "UploadHostNotRegisteredError",
    "UploadPathError",
    "VerificationError",
    "VersionLowerError",
    "WeakKeyError",
]


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


class WeakKeyError(ChainError):
    """A key of the path is too small, or MD5 (MD2, MD4) signed something of it (ADR 8)."""


# --- list acceptance rules (vmcatcher -U) --------------------------------------------------------


class EndorserMismatchError(ImageListError):
    """The list's hv:dn/hv:ca differ from the signer certificate (exit 12)."""

    exit_code = 12


class AmbiguousNameError(EndorserMismatchError):
    """The signer's subject or issuer has a one-line form another name shares (exit 12, ADR 8)."""


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


# --- publisher (vmcaster): helper-owned section, add vmcaster errors below this line -------------


class ImportDocumentError(DocumentError):
    """An imported list is not JSON, not an object, or lacks hv:imagelist/dc:identifier (20)."""

    exit_code = 20


class ImportNullError(DocumentError):
    """An imported list is the JSON literal ``null`` (exit 21, as vmcaster)."""

    exit_code = 21


class ListDownloadError(FetchError):
    """``--download-imagelist`` could not retrieve the list from its hv:uri (exit 22)."""

    exit_code = 22


class PublishConfigError(UsageError):
    """vmcaster.cfg is missing or invalid: names the file, section and key (exit 1)."""


class PublishObjectNotFoundError(ImageListError):
    """The selected image list, image or endorser is not in the vmcaster database (exit 1)."""

    exit_code = 1


class ImageNotListedError(ImageListError):
    """--upload-image: the image belongs to no image list (exit 45, as vmcaster)."""

    exit_code = 45


class ImageUriMissingError(ImageListError):
    """--upload-image: the image has no hv:uri to derive the new URI from (exit 13)."""

    exit_code = 13


class UploadHostNotRegisteredError(ImageListError):
    """No vmcaster.cfg section serves the host of the URI, or its uriMatch fails (exit 99)."""

    exit_code = 99


class UploadPathError(ImageListError):
    """The URI maps to a target outside its section's uriReplace root (``..``, exit 99)."""

    exit_code = 99


class UploadFailedError(ImageListError):
    """The transfer to the server failed; the published copy is unchanged (exit 77)."""

    exit_code = 77


class PublishRequiredKeysError(ImageListError):
    """--upload-imagelist: required list, image or endorser keys are missing (exit 20)."""

    exit_code = 20


class SigningEndorserMismatchError(ImageListError):
    """No linked endorser has the signing certificate's subject and issuer (exit 20)."""

    exit_code = 20


class SigningKeyPathError(ImageListError):
    """No path for the signing key: no option, environment or $HOME (exit 21)."""

    exit_code = 21


class SigningCertPathError(ImageListError):
    """No path for the signing certificate: no option, environment or $HOME (exit 22)."""

    exit_code = 22


class SigningCredentialMissingError(ImageListError):
    """The signing key or certificate file does not exist (exit 23)."""

    exit_code = 23


class SigningCredentialError(ImageListError):
    """The key or certificate cannot be loaded: wrong passphrase, not PEM, not a pair (exit 24)."""

    exit_code = 24


class SigningKeyUsageMissingError(ImageListError):
    """The signing certificate has no keyUsage extension (exit 31)."""

    exit_code = 31


class SigningKeyUsageError(ImageListError):
    """The signing certificate's keyUsage lacks digitalSignature (exit 32)."""

    exit_code = 32


# --- subscriber (vmcatcher): helper-owned section, add vmcatcher errors below this line ----------


class HttpStatusError(FetchError):
    """The server answered with an HTTP status other than 200/304 (exit 10; ``status`` kept)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class FetchTimeoutError(FetchError):
    """Connecting, reading or the whole retrieval took longer than allowed (exit 10)."""


class ListTooLargeError(FetchError):
    """The list is larger than the size cap (16 MiB by default); reading stopped there (exit 10)."""


class ImageConflictError(ImageListError):
    """An image id of the list belongs to another subscription; it is not attached (exit 15)."""

    exit_code = 15


class SameVersionChangedError(ImageListError):
    """The list has the accepted version number but other content (exit 16)."""

    exit_code = 16


class ListMovedError(ImageListError):
    """The list's hv:uri changed; the subscription does not follow unless told to (exit 18)."""

    exit_code = 18


class UnsafeIdentifierError(ImageListError):
    """A list or image dc:identifier is not a safe identifier (exit 31, as an invalid id)."""

    exit_code = 31


class EndorserRegistryError(ImageListError):
    """An endorser cannot be created, linked or found as asked (exit 12, as vmcatcher_endorser)."""

    exit_code = 12


class SubscribeError(ImageListError):
    """A subscription could not be created (exit 1: "Failed to subscribe")."""

    exit_code = 1


class SelectionError(UsageError):
    """A -u/-r selection matches no subscription, image or endorser (exit 1)."""


class LegacyDatabaseError(DatabaseError):
    """A vmcatcher 0.6 database was given where a migrated one is needed, or cannot be read."""


class HandlerError(ImageListError):
    """An event handler cannot be loaded or run (exit 1)."""

    exit_code = 1


# --- cloud backends ------------------------------------------------------------------------------


class BackendError(ImageListError):
    """A cloud backend call failed; the event must be sent again (exit 50)."""

    exit_code = 50


class BackendConfigError(UsageError):
    """A backend configuration file is missing, unreadable or invalid: names the key (exit 1)."""


class BackendUnavailableError(BackendError):
    """The cloud API cannot be reached or refused our credentials (exit 51)."""

    exit_code = 51


class BackendVerificationError(BackendError):
    """The cloud's own view of an upload does not match the list (Glance os_hash_value, exit 52)."""

    exit_code = 52


class ConversionError(BackendError):
    """qemu-img is missing, or could not read, extract or convert an image (exit 53)."""

    exit_code = 53


class EventDataError(BackendError):
    """The event lacks what the backend needs: identifier, checksum, cached file (exit 54)."""

    exit_code = 54


class CachedFileError(EventDataError):
    """The cached file is not the list's image: a link, not a regular file, or its size or
    SHA-512 differs from the event's; nothing is uploaded or converted (exit 55)."""

    exit_code = 55


# --- cache (vmcatcher_cache) ---------------------------------------------------------------------


class CacheError(ImageListError):
    """A cache step failed: a directory, index or file cannot be made, read or moved (exit 1)."""

    exit_code = 1


class CacheIndexError(CacheError):
    """A ``cache.index`` file is not a JSON object of entries; it is left as it is (exit 1)."""


class DiskSpaceError(CacheError):
    """Not enough free space for an image, or a write failed with ENOSPC/EFBIG/EDQUOT (exit 1)."""


class DownloadError(FetchError):
    """An image could not be downloaded: status, timeout, stall, connection (exit 10)."""

    #: Worth trying again (a timeout, a stall, a dropped connection, HTTP 5xx/408/429).
    transient: bool = False

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ImageVerificationError(DownloadError):
    """The bytes are not the image the list describes: size or sha512 differ (exit 10)."""
