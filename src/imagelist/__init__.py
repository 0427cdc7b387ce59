"""imagelist: HEPiX image lists, signed, published, verified and cached."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
