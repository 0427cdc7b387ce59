"""One exception tree for the whole package.

Every error the tools can report derives from :class:`ImageListError`. Each class knows the exit
code the original vmcatcher/vmcaster tools used for that failure (reference §2.8) and renders
itself as a single line for the command line; ``-v`` shows the traceback, nothing else does.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousNameError",
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
    "OpenPGPCertificateError",
    "OpenPGPError",
    "OpenPGPMaterialError",
    "OpenPGPPayloadMismatchError",
    "OpenPGPSignatureError",
    "OpenPGPSignerUnknownError",
    "SignatureError",
    "SignerCountError",
    "TrustStoreError",
    "UntrustedSignerError",
    "UsageError",
    "VerificationError",
    "VersionLowerError",
    "WeakKeyError",
]


class ImageListError(Exception):
    """Root of every error imagelist raises on purpose.

    ``str(error)`` is one line that names the problem; ``exit_code`` is what a CLI exits with.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        # Keep the message on one line whatever the input was. The exit code is the class's: a
        # failure with another code is another class (``exit_code=`` is going away; ADR 0024).
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


class NullListError(DocumentError):
    """The image list is the JSON literal ``null`` (exit 37, as vmcatcher: reference §1.5)."""

    exit_code = 37


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


# --- transport: fetching lists and images --------------------------------------------------------


class FetchError(ImageListError):
    """A list or image could not be retrieved: network, HTTP status, timeout, size cap (exit 10)."""

    exit_code = 10


#: Every command: the database cannot be opened, migrated or written.
EXIT_DATABASE_ERROR = 36
#: Every command: an error nobody anticipated (a bug; sysexits EX_SOFTWARE), still one line.
EXIT_INTERNAL_ERROR = 70


class DatabaseError(ImageListError):
    """The database cannot be opened, migrated or written (exit 36)."""

    exit_code = EXIT_DATABASE_ERROR


class InternalError(ImageListError):
    """An error nobody anticipated, reported as one line (exit 70); ``-v`` shows where."""

    exit_code = EXIT_INTERNAL_ERROR


# --- publisher (vmcaster): helper-owned section, add vmcaster errors below this line -------------

__all__ += [
    "ImageNotListedError",
    "ImageUriMissingError",
    "ImportDocumentError",
    "ImportNullError",
    "ListDownloadError",
    "PublishConfigError",
    "PublishObjectNotFoundError",
    "PublishRequiredKeysError",
    "SigningCertPathError",
    "SigningCredentialError",
    "SigningCredentialMissingError",
    "SigningEndorserMismatchError",
    "SigningKeyPathError",
    "SigningKeyUsageError",
    "SigningKeyUsageMissingError",
    "UploadFailedError",
    "UploadHostNotRegisteredError",
    "UploadPathError",
]


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

__all__ += [
    "EndorserRegistryError",
    "FetchTimeoutError",
    "HandlerError",
    "HttpStatusError",
    "ImageConflictError",
    "LegacyDatabaseError",
    "ListMovedError",
    "ListTooLargeError",
    "SameVersionChangedError",
    "SelectionError",
    "SubscribeError",
    "UnsafeIdentifierError",
]


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

__all__ += [
    "BackendConfigError",
    "BackendError",
    "BackendUnavailableError",
    "BackendVerificationError",
    "CachedFileError",
    "ConversionError",
    "EventDataError",
]


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

__all__ += [
    "CacheError",
    "CacheIndexError",
    "DiskSpaceError",
    "DownloadError",
    "ImageVerificationError",
]


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


# --- shared outcomes (agreed across the cache, events and backends) -------------------------------

__all__ += [
    "EXIT_DATABASE_ERROR",
    "EXIT_EVENTS_FAILED",
    "EXIT_IMAGES_FAILED",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "ConfigurationError",
    "InternalError",
    "InterruptedRunError",
    "NullListError",
]

#: vmcatcher_cache: an image failed to download or verify in this run, or is given up.
EXIT_IMAGES_FAILED = 40
#: vmcatcher_cache: an event handler failed or timed out, or an event is dead-lettered.
EXIT_EVENTS_FAILED = 41


#: Ctrl-C or SIGTERM ended the run (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


class InterruptedRunError(ImageListError):
    """The run was interrupted (Ctrl-C, SIGTERM): exit 130; what it kept is in the message."""

    exit_code = EXIT_INTERRUPTED


class ConfigurationError(ImageListError):
    """A setting is missing or unusable: a handler that cannot run, no cloud credentials (exit 78).

    78 is sysexits' EX_CONFIG, beside 70 (EX_SOFTWARE) for internal errors.
    """

    exit_code = 78


# --- market (imagelist-market, exit codes 80-89; ADR 0019) ---------------------------------------

__all__ += [
    "MarketAuthenticationError",
    "MarketConflictError",
    "MarketError",
    "MarketImportError",
    "MarketInputError",
    "MarketIntegrityError",
    "MarketNotFoundError",
    "MarketPermissionError",
    "MarketPublishError",
    "MarketSettingsError",
    "MarketStateError",
]


class MarketError(ImageListError):
    """The marketplace refused or failed an operation (exit 80).

    Each subclass also knows the HTTP status and the machine ``code`` the REST API answers with.
    """

    exit_code = 80
    http_status = 400
    code = "market_error"


class MarketNotFoundError(MarketError):
    """A named object (VO, person, appliance, version, token ...) does not exist (exit 81)."""

    exit_code = 81
    http_status = 404
    code = "not_found"


class MarketConflictError(MarketError):
    """The name is taken or the object already exists (exit 82)."""

    exit_code = 82
    http_status = 409
    code = "conflict"


class MarketStateError(MarketError):
    """An illegal state change: publish before verified, edit a published version (exit 83)."""

    exit_code = 83
    http_status = 409
    code = "illegal_state"


class MarketPermissionError(MarketError):
    """The caller lacks the role or scope the operation needs (exit 84)."""

    exit_code = 84
    http_status = 403
    code = "forbidden"


class MarketAuthenticationError(MarketPermissionError):
    """No usable credentials: no token, an unknown, expired or revoked one (exit 84, HTTP 401)."""

    http_status = 401
    code = "unauthenticated"


class MarketImportError(MarketError):
    """An endorser-signed list was refused: bad signature, signer not a member (exit 85)."""

    exit_code = 85
    http_status = 422
    code = "import_refused"


class MarketIntegrityError(MarketError):
    """An integrity check failed or cannot start (exit 86)."""

    exit_code = 86
    http_status = 409
    code = "integrity_failed"


class MarketSettingsError(MarketError):
    """The market's settings are unusable: data dir, signer files, proxy addresses (exit 87)."""

    exit_code = 87
    http_status = 500
    code = "settings"


class MarketPublishError(MarketError):
    """A publication could not be made (signing, store) (exit 88)."""

    exit_code = 88
    http_status = 409
    code = "publish_failed"


class MarketInputError(MarketError):
    """A value is malformed: a slug, an expiry, a scope, a DN (exit 89)."""

    exit_code = 89
    http_status = 422
    code = "invalid_input"


# --- openpgp: detached OpenPGP signatures beside S/MIME (ADR 0021), exits 60-64 -----------------


class OpenPGPError(ImageListError):
    """An OpenPGP signature or its material was refused (exit 60-64)."""

    exit_code = 60


class OpenPGPSignatureError(OpenPGPError):
    """Not a valid OpenPGP signature over these bytes: tampered, other bytes, malformed (60)."""

    exit_code = 60


class OpenPGPSignerUnknownError(OpenPGPError):
    """The signature was made by a key of none of the endorser's certificates (61)."""

    exit_code = 61


class OpenPGPCertificateError(OpenPGPError):
    """The signing certificate or key is expired, revoked or not signing-capable now (62)."""

    exit_code = 62


class OpenPGPPayloadMismatchError(OpenPGPError):
    """``image.list.json`` is not byte for byte the S/MIME-signed payload (63)."""

    exit_code = 63


class OpenPGPMaterialError(OpenPGPError):
    """A required ``.json``/``.asc`` is missing, or a key/certificate file is unusable (64)."""

    exit_code = 64


# --- web: the marketplace's pages and notifications (ADR 0025) -----------------------------------

__all__ += ["MarketNotifyError"]


class MarketNotifyError(MarketError):
    """``imagelist-market notify`` could not send a due mail (SMTP unreachable or refusing);
    the mails that were sent stay sent, the others are tried again by the next run (exit 80)."""

    exit_code = 80
    http_status = 503
    code = "notify_failed"


# --- oci: images in OCI registries (docs/oci.md, ADR 0022) ---------------------------------------

__all__ += [
    "OciAuthError",
    "OciBlobError",
    "OciError",
    "OciManifestError",
    "OciReferenceError",
    "OciSignatureError",
    "OciSignatureExpiredError",
    "OciSignatureMissingError",
    "OciUnavailableError",
]


class OciError(DownloadError):
    """An OCI registry could not give what was asked (base of the oci errors)."""


class OciReferenceError(OciError):
    """An ``oci://`` reference is malformed, not pinned by digest where it must be, or its
    registry is not allowed (exit 56)."""

    exit_code = 56


class OciAuthError(OciError):
    """The registry refused us (401/403), or its credentials file is unusable (exit 57)."""

    exit_code = 57


class OciUnavailableError(OciError):
    """The registry cannot be reached, timed out or answered 5xx (exit 58)."""

    exit_code = 58


class OciManifestError(OciError, ImageVerificationError):
    """A manifest's bytes do not hash to its digest, are too large or not a single-disk image
    manifest (no or several disk layers, a size other than the list's) (exit 59)."""

    exit_code = 59


class OciBlobError(OciError, ImageVerificationError):
    """A blob's bytes do not hash to the digest of its descriptor (exit 65)."""

    exit_code = 65


class OciSignatureMissingError(OciError):
    """No cosign signature (``sha256-<hex>.sig``) for a manifest that must be signed (exit 66)."""

    exit_code = 66


class OciSignatureError(OciError):
    """A cosign signature does not verify with the pinned key or names another manifest
    (exit 67)."""

    exit_code = 67


class OciSignatureExpiredError(OciError):
    """A cosign signature is older than the source's maximum age (exit 68)."""

    exit_code = 68
