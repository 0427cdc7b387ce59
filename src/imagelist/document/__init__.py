"""The HEPiX image list document (reference §1.1-§1.3) as typed, immutable objects.

Three layers, imported here so that ``imagelist.document`` stays the one public name:
:mod:`~imagelist.document.guards` (hostile JSON: the decoders, depth, number and surrogate
checks), :mod:`~imagelist.document.fields` (the keys each level needs, how values are read and
written, dates) and the model: :mod:`~imagelist.document.image` (``Image``, ``DroppedImage``)
and :mod:`~imagelist.document.model` (``Endorser``, ``ImageList``).
"""

from __future__ import annotations

from imagelist.document.fields import (
    MAX_IMAGE_SIZE,
    REQUIRED_ENDORSER_KEYS,
    REQUIRED_IMAGE_KEYS,
    REQUIRED_LIST_KEYS,
    format_date,
    is_safe_identifier,
    parse_date,
)
from imagelist.document.guards import MAX_DEPTH, MAX_INTEGER, MIN_INTEGER
from imagelist.document.image import DroppedImage, Image
from imagelist.document.model import Endorser, ImageList

__all__ = [
    "MAX_DEPTH",
    "MAX_IMAGE_SIZE",
    "MAX_INTEGER",
    "MIN_INTEGER",
    "REQUIRED_ENDORSER_KEYS",
    "REQUIRED_IMAGE_KEYS",
    "REQUIRED_LIST_KEYS",
    "DroppedImage",
    "Endorser",
    "Image",
    "ImageList",
    "format_date",
    "is_safe_identifier",
    "parse_date",
]
