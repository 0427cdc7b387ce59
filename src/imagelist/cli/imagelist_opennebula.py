"""``imagelist-opennebula``: the OpenNebula backend as a vmcatcher event handler."""

from __future__ import annotations

from collections.abc import Sequence

from ._backend import backend_command
from ._common import run_command

__all__ = ["main"]

PROG = "imagelist-opennebula"


def main(argv: Sequence[str] | None = None) -> int:
    """Handle the event in the environment; exit non-zero if the cloud call failed."""
    return run_command(PROG, lambda args: backend_command(PROG, "opennebula", args), argv)
