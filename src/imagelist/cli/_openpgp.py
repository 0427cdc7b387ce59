"""The OpenPGP options of the command-line tools (ADR 0021): reading the secret key.

The secret key file and its passphrase file are read like the X.509 key (private to their owner,
exit 24 otherwise); the key itself is then unlocked by :mod:`imagelist.openpgp` (exit 64).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a key is read: --help needs no pysequoia
    from ..openpgp import SigningKey

__all__ = ["OPENPGP_PASSPHRASE_ENV", "openpgp_signing_key"]

#: The file holding the passphrase of an encrypted OpenPGP secret key (vmcaster, imagelist sign).
OPENPGP_PASSPHRASE_ENV = "VMCASTER_OPENPGP_KEY_PASSPHRASE_FILE"  # noqa: S105 (a variable name)


def openpgp_signing_key(
    path: str | Path, *, environ: Mapping[str, str] | None = None, allow_open: bool = False
) -> SigningKey:
    """``--openpgp-key FILE``, unlocked with ``$VMCASTER_OPENPGP_KEY_PASSPHRASE_FILE`` if set."""
    from ..openpgp import SigningKey
    from ..publisher.safefiles import read_secret_file

    env = os.environ if environ is None else environ
    passphrase = None
    passphrase_file = env.get(OPENPGP_PASSPHRASE_ENV)
    if passphrase_file:
        raw = read_secret_file(Path(passphrase_file), OPENPGP_PASSPHRASE_ENV, allow_open=allow_open)
        passphrase = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
    data = read_secret_file(Path(path), "OpenPGP secret key", allow_open=allow_open)
    return SigningKey.from_bytes(data, passphrase=passphrase, source=str(path))
