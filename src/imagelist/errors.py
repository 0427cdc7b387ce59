"""One exception tree for the whole package.

Every error the tools can report derives from :class:`ImageListError`. Each class knows the exit
code the original vmcatcher/vmcaster tools used for that failure (reference §2.8) and renders
itself as a single line for the command line; ``-v`` shows the traceback, nothing else does.

The root and the errors of every layer are defined in :mod:`.errors_base`, the errors of the
original tools in :mod:`.errors_tools`; both are imported here, and this module is where they are
imported from and where each area appends its own section.
"""

from __future__ import annotations

from .errors_base import (
    EXIT_DATABASE_ERROR,
    EXIT_INTERNAL_ERROR,
    DatabaseError,
    DocumentError,
    FetchError,
    ImageListError,
    InternalError,
    NullListError,
    UsageError,
)
from .errors_tools import (
    AmbiguousNameError,
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    BackendVerificationError,
    CachedFileError,
    CacheError,
    CacheIndexError,
    CertificateExpiredError,
    CertificateRevokedError,
    ChainError,
    ConversionError,
    CreatedInFutureError,
    CrlError,
    DiskSpaceError,
    DownloadError,
    EndorserMismatchError,
    EndorserNotAuthorisedError,
    EndorserRegistryError,
    EventDataError,
    FetchTimeoutError,
    HandlerError,
    HttpStatusError,
    ImageConflictError,
    ImageNotListedError,
    ImageUriMissingError,
    ImageVerificationError,
    ImportDocumentError,
    ImportNullError,
    KeyUsageError,
    LegacyDatabaseError,
    ListDownloadError,
    ListExpiredError,
    ListIdMismatchError,
    ListMovedError,
    ListTooLargeError,
    MimeFormatError,
    NamespacePolicyError,
    NewImageRefusedError,
    NoTrustAnchorsError,
    PublishConfigError,
    PublishObjectNotFoundError,
    PublishRequiredKeysError,
    SameVersionChangedError,
    SelectionError,
    SignatureError,
    SignerCountError,
    SigningCertPathError,
    SigningCredentialError,
    SigningCredentialMissingError,
    SigningEndorserMismatchError,
    SigningKeyPathError,
    SigningKeyUsageError,
    SigningKeyUsageMissingError,
    SubscribeError,
    TrustStoreError,
    UnsafeIdentifierError,
    UntrustedSignerError,
    UploadFailedError,
    UploadHostNotRegisteredError,
    UploadPathError,
    VerificationError,
    VersionLowerError,
    WeakKeyError,
)

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

# The base classes and the tools' errors, defined in errors_base.py and errors_tools.py.
__all__ += [
    "EXIT_DATABASE_ERROR",
    "EXIT_INTERNAL_ERROR",
    "BackendConfigError",
    "BackendError",
    "BackendUnavailableError",
    "BackendVerificationError",
    "CacheError",
    "CacheIndexError",
    "CachedFileError",
    "ConversionError",
    "DiskSpaceError",
    "DownloadError",
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
    "InternalError",
    "LegacyDatabaseError",
    "ListDownloadError",
    "ListMovedError",
    "ListTooLargeError",
    "NullListError",
    "PublishConfigError",
    "PublishObjectNotFoundError",
    "PublishRequiredKeysError",
    "SameVersionChangedError",
    "SelectionError",
    "SigningCertPathError",
    "SigningCredentialError",
    "SigningCredentialMissingError",
    "SigningEndorserMismatchError",
    "SigningKeyPathError",
    "SigningKeyUsageError",
    "SigningKeyUsageMissingError",
    "SubscribeError",
    "UnsafeIdentifierError",
    "UploadFailedError",
    "UploadHostNotRegisteredError",
    "UploadPathError",
]


# --- shared outcomes (agreed across the cache, events and backends) -------------------------------

__all__ += [
    "EXIT_EVENTS_FAILED",
    "EXIT_IMAGES_FAILED",
    "EXIT_INTERRUPTED",
    "ConfigurationError",
    "InterruptedRunError",
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
