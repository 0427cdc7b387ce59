"""Trust: the IGTF directory, certificate paths, CRLs, namespace policies and one-line DNs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .chain import validate_signer
    from .dn import dn_matches, issuer_oneline, name_oneline, subject_oneline
    from .keys import KeyPolicy
    from .policies import CrlPolicy
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

# Imported on first use (PEP 562), so that importing one submodule (or --help) does not
# import them all, nor SQLAlchemy and requests with them (ADR 0023).
_WHERE = {
    "CrlPolicy": ".policies",
    "validate_signer": ".chain",
    "dn_matches": ".dn",
    "issuer_oneline": ".dn",
    "name_oneline": ".dn",
    "subject_oneline": ".dn",
    "KeyPolicy": ".keys",
    "DEFAULT_TRUST_DIR": ".store",
    "TrustedCA": ".store",
    "TrustStore": ".store",
    "default_trust_dir": ".store",
    "subject_hash": ".store",
}

__getattr__ = lazy_exports(__name__, _WHERE)
