"""The trust settings a command line offers, apart from the code that applies them
(:mod:`.chain`, :mod:`.keys`, which import ``cryptography``): ``--crl`` and ``--min-rsa-bits``
show their choices and defaults from here (ADR 0029)."""

from __future__ import annotations

import enum

__all__ = ["DEFAULT_MIN_RSA_BITS", "LOWEST_MIN_RSA_BITS", "CrlPolicy"]

#: The smallest RSA key accepted in a signer's path unless lowered (``--min-rsa-bits``).
DEFAULT_MIN_RSA_BITS = 2048
#: The floor cannot be lowered below this.
LOWEST_MIN_RSA_BITS = 1024


class CrlPolicy(enum.Enum):
    """How CRLs are used: ``require`` one per issuing CA (default) or check them ``if-present``."""

    REQUIRE = "require"
    IF_PRESENT = "if-present"
