"""A list verified by OpenPGP only (policy ``openpgp``, ADR 0021): pure data, for ``decide``."""

from __future__ import annotations

from dataclasses import dataclass

from ..document import Endorser, ImageList
from ..openpgp import VerifiedSignature

__all__ = ["OpenPGPList"]


@dataclass(frozen=True)
class OpenPGPList:
    """What deciding needs of a list whose ``.json`` was verified by OpenPGP alone."""

    imagelist: ImageList
    signature: VerifiedSignature
    #: the subscriptionAuth id of the endorser whose certificate made the signature
    link: int

    @property
    def endorser(self) -> Endorser:
        return self.imagelist.endorser
