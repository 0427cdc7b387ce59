"""Cloud backends: OpenStack Glance and OpenNebula, fed by vmcatcher events.

:mod:`.base` holds the one interface (publish, retire, list), the strict configuration loader
and the event-to-image mapping; :mod:`.glance` and :mod:`.opennebula` implement it;
:mod:`.convert` detects and converts disk formats with qemu-img; :mod:`.handler` turns an
event into backend calls for the commands ``imagelist-glance`` / ``imagelist-opennebula`` and
the ``imagelist.handlers`` entry points.
"""

from __future__ import annotations

from .base import ACTIVE, PENDING, RETIRED, Backend, Calls, ImageSpec, ManagedImage

__all__ = ["ACTIVE", "PENDING", "RETIRED", "Backend", "Calls", "ImageSpec", "ManagedImage"]
