"""``vmcatcher_image``: not part of this release yet (see the project's open issues)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Say plainly that the command is not available yet."""
    print("vmcatcher_image: not available in imagelist 0.1 yet", file=sys.stderr)
    return 1
