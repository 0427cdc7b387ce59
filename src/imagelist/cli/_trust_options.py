"""Trust options shared by the commands that verify lists (``imagelist verify``, ``-U``/``-s``)."""

from __future__ import annotations

import argparse

from ..trust.keys import DEFAULT_MIN_RSA_BITS, LOWEST_MIN_RSA_BITS, KeyPolicy

__all__ = ["add_key_policy_option", "key_policy"]


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
    return KeyPolicy(min_rsa_bits=args.min_rsa_bits)
