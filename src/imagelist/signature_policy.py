"""Which signatures a subscription requires (ADR 0021), apart from :mod:`.companions`, which
checks them: the command lines offer the choices without importing the OpenPGP and S/MIME
code (ADR 0029)."""

from __future__ import annotations

import enum

__all__ = ["SignaturePolicy"]


class SignaturePolicy(enum.StrEnum):
    """Which signatures a subscription requires (``vmcatcher_subscribe --signature-policy``)."""

    SMIME = "smime"
    SMIME_OPENPGP = "smime+openpgp"
    OPENPGP = "openpgp"

    @property
    def smime(self) -> bool:
        return self is not SignaturePolicy.OPENPGP

    @property
    def openpgp(self) -> bool:
        return self is not SignaturePolicy.SMIME
