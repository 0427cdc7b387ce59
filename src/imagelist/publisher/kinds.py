"""The three kinds of object vmcaster keeps, and how its messages name them.

Apart from :mod:`.rows` and :mod:`.actions` (SQLAlchemy), so that ``vmcaster --help`` builds
its per-kind options from the same values without importing the publisher (ADR 0029).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["KINDS", "KIND_NAMES", "Kind"]

Kind = Literal["imagelist", "image", "endorser"]
#: The kinds, in the order of vmcaster's options.
KINDS: tuple[Kind, ...] = ("imagelist", "image", "endorser")
#: How a message names an object of each kind.
KIND_NAMES: dict[Kind, str] = {"imagelist": "image list", "image": "image", "endorser": "endorser"}
