"""The root of the exception tree and the errors every layer raises (re-exported by
:mod:`imagelist.errors`, the one place to import them from)."""

from __future__ import annotations

__all__ = [
    "EXIT_DATABASE_ERROR",
    "EXIT_INTERNAL_ERROR",
    "DatabaseError",
    "DocumentError",
    "FetchError",
    "ImageListError",
    "InternalError",
    "NullListError",
    "UsageError",
]


class ImageListError(Exception):
    """Root of every error imagelist raises on purpose.

    ``str(error)`` is one line that names the problem; ``exit_code`` is what a CLI exits with.
    """

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        # Keep the message on one line whatever the input was. The exit code is the class's:
        # a failure with another code is another class (ADR 0024).
        super().__init__(" ".join(message.split()))

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
