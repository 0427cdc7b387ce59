"""Trust options shared by the commands that verify lists (``imagelist verify``, ``-U``/``-s``)
and by those that read the trust directory (``-c/--cert-dir``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..trust.policies import DEFAULT_MIN_RSA_BITS, LOWEST_MIN_RSA_BITS, CrlPolicy

if TYPE_CHECKING:  # imported when the policy is built: --help needs no cryptography
    from ..trust.keys import KeyPolicy

__all__ = ["add_cert_dir_option", "add_crl_option", "add_key_policy_option", "key_policy"]


def add_cert_dir_option(group: argparse._ActionsContainer, *, purpose: str = "") -> None:
    """``-c/--cert-dir DIR`` of the vmcatcher commands; ``purpose`` says what it is for."""
    group.add_argument(
        "-c",
        "--cert-dir",
        metavar="DIR",
        help=f"trust directory{purpose} (default: $VMCATCHER_DIR_CERT, $X509_CERT_DIR, "
        "/etc/grid-security/certificates)",
    )


def add_crl_option(group: argparse._ActionsContainer, *, help: str) -> None:
    """``--crl require|if-present`` (default ``require``)."""
    group.add_argument(
        "--crl",
        choices=[policy.value for policy in CrlPolicy],
        default=CrlPolicy.REQUIRE.value,
        help=help,
    )


def add_key_policy_option(group: argparse._ActionsContainer) -> None:
    """``--min-rsa-bits N``: lower the RSA key floor of the signer's path (never below 1024)."""
    group.add_argument(
        "--min-rsa-bits",
        type=int,
        default=DEFAULT_MIN_RSA_BITS,
        metavar="BITS",
        help=f"smallest RSA key accepted in the signer's path (default {DEFAULT_MIN_RSA_BITS}, "
        f"at least {LOWEST_MIN_RSA_BITS}; every smaller key accepted is logged as a warning)",
    )


def key_policy(args: argparse.Namespace) -> KeyPolicy:
    """The policy the options ask for (UsageError, exit 1, below 1024 bits)."""
    from ..trust.keys import KeyPolicy

    return KeyPolicy(min_rsa_bits=args.min_rsa_bits)
