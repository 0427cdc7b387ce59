"""Vocabularies of the marketplace (AppDB's ``e_hypervisors``, formats, archs, OS families).

Values are matched without regard to case and stored in the spelling given here.
"""

from __future__ import annotations

from ..errors import MarketInputError

__all__ = ["VOCABULARIES", "canonical"]

VOCABULARIES: dict[str, tuple[str, ...]] = {
    "hypervisors": (
        "KVM",
        "QEMU",
        "QEMU-KVM",
        "Xen",
        "VirtualBox",
        "Hyper-V",
        "VMWare",
        "VirtualPC",
    ),
    "formats": ("QCOW2", "RAW", "VMDK", "VDI", "VHD", "VHDX", "OVA", "OVF", "ISO", "AMI", "img"),
    "archs": ("x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"),
    "oses": ("Linux", "Windows", "BSD", "Other"),
}
_LOOKUP = {
    name: {value.lower(): value for value in values} for name, values in VOCABULARIES.items()
}
_SINGULAR = {"hypervisors": "hypervisor", "formats": "format", "archs": "arch", "oses": "OS family"}


def canonical(vocabulary: str, value: str) -> str:
    """``value`` in the vocabulary's spelling; MarketInputError names the allowed values."""
    found = _LOOKUP[vocabulary].get(value.strip().lower())
    if found is None:
        allowed = ", ".join(VOCABULARIES[vocabulary])
        raise MarketInputError(f"{_SINGULAR[vocabulary]} {value!r} is not one of: {allowed}")
    return found
