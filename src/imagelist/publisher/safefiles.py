"""Reading the small files vmcaster is pointed at: bounded, regular files only, private secrets.

* ``--key-value-*-file``: at most :data:`VALUE_FILE_MAX_BYTES`, a regular file (``/dev/zero``
  or a FIFO is refused at once instead of filling memory or blocking), UTF-8 text.
* The signing key and its passphrase file: a regular file of bounded size that neither group nor
  others may access, as OpenSSH demands of private keys (``chmod 600``). ``allow_open=True``
  (vmcaster ``--allow-open-key-permissions``) turns the refusal into a warning.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from .. import fileio
from ..errors import SigningCredentialError, UsageError

__all__ = [
    "SECRET_FILE_MAX_BYTES",
    "VALUE_FILE_MAX_BYTES",
    "read_bounded",
    "read_credential_file",
    "read_secret_file",
    "read_value_file",
]

logger = logging.getLogger(__name__)

#: Largest ``--key-value-*-file`` accepted (a description of 1 MiB is already absurd).
VALUE_FILE_MAX_BYTES = 1024 * 1024
#: Largest key or passphrase file accepted.
SECRET_FILE_MAX_BYTES = 1024 * 1024


class _NotRegular(Exception):
    pass


class _TooLarge(Exception):
    pass


def read_bounded(path: Path, limit: int) -> tuple[bytes, int]:
    """(content, mode) of the regular file ``path``, at most ``limit`` bytes.

    Opened without blocking (a FIFO would otherwise wait for a writer) and checked on the open
    descriptor (:func:`imagelist.fileio.read_bounded`). Raises OSError, ``_NotRegular`` or
    ``_TooLarge``.
    """
    try:
        data, info = fileio.read_bounded(path, limit, follow_links=True)
    except fileio.NotRegularFileError:
        raise _NotRegular from None
    except fileio.FileTooLargeError:
        raise _TooLarge from None
    return data, stat.S_IMODE(info.st_mode)


def read_value_file(path: str, option: str) -> str:
    """The text of a ``--key-value-*-file`` (UsageError, exit 1, if it is not a small text file)."""
    try:
        data, _ = read_bounded(Path(path), VALUE_FILE_MAX_BYTES)
        return data.decode("utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
    except _NotRegular:
        reason = "not a regular file"
    except _TooLarge:
        reason = f"larger than {VALUE_FILE_MAX_BYTES} bytes"
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    raise UsageError(f"cannot read {option} {path}: {reason}")


def read_credential_file(path: Path, what: str) -> tuple[bytes, int]:
    """(content, mode) of a small regular file; SigningCredentialError (exit 24) otherwise."""
    try:
        return read_bounded(path, SECRET_FILE_MAX_BYTES)
    except OSError as exc:
        raise SigningCredentialError(f"cannot read {what} {path}: {exc.strerror}") from None
    except _NotRegular:
        raise SigningCredentialError(f"cannot read {what} {path}: not a regular file") from None
    except _TooLarge:
        raise SigningCredentialError(
            f"cannot read {what} {path}: larger than {SECRET_FILE_MAX_BYTES} bytes"
        ) from None


def read_secret_file(path: Path, what: str, *, allow_open: bool = False) -> bytes:
    """The content of a private key or passphrase file that only its owner may access.

    Raises SigningCredentialError (exit 24) if it cannot be read, is not a small regular file,
    or if group or others have any permission on it (unless ``allow_open``, then a warning).
    """
    data, mode = read_credential_file(path, what)
    if mode & 0o077:
        message = (
            f"permissions {mode:04o} of {what} {path} are too open: group and others must have "
            f"no access (chmod 600 {path})"
        )
        if not allow_open:
            raise SigningCredentialError(
                message + ", or give --allow-open-key-permissions to use it anyway"
            )
        logger.warning("%s; used anyway (--allow-open-key-permissions)", message)
    return data
