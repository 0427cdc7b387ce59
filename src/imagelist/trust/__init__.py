"""Trust: the IGTF directory, certificate paths, CRLs, namespace policies and one-line DNs."""

from __future__ import annotations

from .chain import CrlPolicy, validate_signer
from .dn import dn_matches, issuer_oneline, name_oneline, subject_oneline
from .keys import KeyPolicy
from .store import DEFAULT_TRUST_DIR, TrustedCA, TrustStore, default_trust_dir, subject_hash

__all__ = [
    "DEFAULT_TRUST_DIR",
    "CrlPolicy",
    "KeyPolicy",
    "TrustStore",
    "TrustedCA",
    "default_trust_dir",
    "dn_matches",
    "issuer_oneline",
    "name_oneline",
    "subject_hash",
    "subject_oneline",
    "validate_signer",
]
