"""From a vmcatcher event to backend calls: the glue shared by the commands and entry points.

* AvailablePostfix: publish the cached file (:func:`~.base.spec_from_variables`).
* ExpirePostfix: retire the images of the identifier with that checksum. With ``defer_retire``
  (the default) the image is only marked; it is retired once its successor is active (an
  update is Expire(old) then Available(new) in one run), or at ProcessPostfix, or at the next
  ProcessPrefix if the run died. Nothing is ever retired without an Expire event.
* ProcessPrefix / ProcessPostfix: retire what earlier Expire events marked.
* Every other event is ignored (exit 0), as the CESGA handler did.

A failing backend call raises, so the command exits non-zero and the cache sends the event
again. :func:`glance` and :func:`opennebula` are the ``imagelist.handlers`` entry points.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..errors import EventDataError
from ..events.model import EVENT_PREFIX, Event, EventType, event_variables
from .base import Backend, check_identifier, config_path, load_config, spec_from_variables

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "glance",
    "handle",
    "make_backend",
    "opennebula",
]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = {
    "glance": "/etc/imagelist/glance.toml",
    "opennebula": "/etc/imagelist/opennebula.toml",
}
CONFIG_ENV = {"glance": "IMAGELIST_GLANCE_CONFIG", "opennebula": "IMAGELIST_OPENNEBULA_CONFIG"}
_IGNORED = {
    EventType.AVAILABLE_PREFIX,
    EventType.EXPIRE_PREFIX,
    EventType.SUBSCRIPTION_IMAGE_NEW,
}


def make_backend(
    kind: str,
    config_file: str | None = None,
    *,
    env: Mapping[str, str],
    dry_run: bool = False,
) -> tuple[Backend, bool]:
    """The backend ``kind`` ("glance" or "opennebula") from its configuration file, and
    whether Expire events are deferred; ``env``: the command's environment (the configuration
    file's variable, ``ONE_*``, the conversion directory's ``XDG_CACHE_HOME``/``HOME``)."""
    environ = env
    path, required = config_path(config_file, environ, CONFIG_ENV[kind], DEFAULT_CONFIG[kind])
    if kind == "glance":
        from .glance import GlanceBackend, GlanceConfig, connect

        glance_config = load_config(GlanceConfig, path, required=required)
        backend: Backend = GlanceBackend(
            glance_config, connect(glance_config.cloud), dry_run=dry_run, environ=environ
        )
        return backend, glance_config.defer_retire
    from .opennebula import OneClient, OpenNebulaBackend, OpenNebulaConfig, read_session

    one_config = load_config(OpenNebulaConfig, path, required=required)
    endpoint, session = read_session(one_config, environ)
    backend = OpenNebulaBackend(
        one_config, OneClient(endpoint, session), dry_run=dry_run, environ=environ
    )
    return backend, one_config.defer_retire


def handle(
    backend: Backend,
    variables: Mapping[str, str],
    *,
    metadata: Mapping[str, Any] | None = None,
    defer_retire: bool = True,
) -> str:
    """Apply one event (its VMCATCHER_* environment) to ``backend``; a one-line summary."""
    text = variables.get(EVENT_PREFIX + "TYPE", "").strip()
    try:
        kind = EventType(text)
    except ValueError:
        raise EventDataError(f"unknown or missing VMCATCHER_EVENT_TYPE {text!r}") from None
    name = backend.name
    if kind is EventType.AVAILABLE_POSTFIX:
        spec = spec_from_variables(variables, metadata)
        image = backend.publish(spec)
        return f"{name}: {spec.identifier} is image {image.backend_id} ({image.state})"
    if kind is EventType.EXPIRE_POSTFIX:
        identifier = check_identifier(variables.get(EVENT_PREFIX + "DC_IDENTIFIER", "").strip())
        sha512 = variables.get(EVENT_PREFIX + "SL_CHECKSUM_SHA512", "").strip().lower() or None
        done = backend.retire(identifier, sha512, defer=defer_retire)
        verb = "marked for retirement" if defer_retire else "retired"
        ids = ", ".join(image.backend_id for image in done) or "no image"
        return f"{name}: {identifier}: {verb}: {ids}"
    if kind in (EventType.PROCESS_PREFIX, EventType.PROCESS_POSTFIX):
        done = backend.retire_pending()
        ids = ", ".join(image.backend_id for image in done)
        return f"{name}: {kind}: retired {len(done)} marked image(s){': ' + ids if ids else ''}"
    logger.info("%s: event %s ignored", name, kind)
    return f"{name}: {kind} ignored"


def _entry(kind: str, event: Event) -> bool:
    """Handle an in-process event with the backend's default configuration, in the environment
    of the command that emitted it (:attr:`Event.environ`)."""
    variables = dict(event_variables(event))
    for key in ("VMCATCHER_CACHE_DIR_CACHE", "VMCATCHER_CACHE_DIR_EXPIRE"):
        if key not in variables and event.environ.get(key):
            variables[key] = event.environ[key]
    backend, defer = make_backend(kind, env=event.environ)
    logger.info(handle(backend, variables, metadata=event.metadata, defer_retire=defer))
    return True


def glance(event: Event) -> bool:
    """Entry point ``imagelist.handlers: glance``."""
    return _entry("glance", event)


def opennebula(event: Event) -> bool:
    """Entry point ``imagelist.handlers: opennebula``."""
    return _entry("opennebula", event)
