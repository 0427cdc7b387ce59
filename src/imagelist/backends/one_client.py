"""Talking to oned: the backend's settings (``opennebula.toml``), the credentials as the ONE
tools find them, and :class:`OneClient` (pyone's XML-RPC with real timeouts and one-line errors;
the IMAGE documents it returns are checked before anyone reads them).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import xmlrpc.client
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendConfigError, BackendError, BackendUnavailableError
from .convert import MAX_EXPANSION, conversion_directory, home_directory
from .one_images import (
    check_images,
)

__all__ = ["DEFAULT_ENDPOINT", "OneClient", "OpenNebulaConfig", "read_session"]

DEFAULT_ENDPOINT = "http://localhost:2633/RPC2"


@dataclass(frozen=True)
class OpenNebulaConfig:
    """``opennebula.toml``: every key optional; unknown keys are errors."""

    endpoint: str | None = None  # default: $ONE_XMLRPC, else http://localhost:2633/RPC2
    auth_file: str | None = None  # default: $ONE_AUTH, else ~/.one/one_auth
    datastore: str = "default"  # image datastore, by name or numeric id
    disk_formats: tuple[str, ...] = ()
    conversion_dir: str = ""
    permissions: str = ""  # octal such as "600" for an image with no predecessor
    delete_retired: bool = False
    delete_retired_after_days: int = 7
    ready_timeout: float = 3600.0
    poll_interval: float = 2.0
    defer_retire: bool = True
    conversion_timeout: float = 3600.0
    owner_uid: int = -1  # the user our images belong to; -1: the user of the credentials
    owner_gid: int = -1  # their group; -1: that user's primary group
    adopt: bool = False  # adopt CESGA / cloudkeeper-one images of our user and group
    max_expansion: int = MAX_EXPANSION  # a conversion writes at most this times hv:size

    def __post_init__(self) -> None:
        if self.max_expansion < 1:
            raise ValueError("max_expansion must be at least 1")
        if self.owner_uid < -1 or self.owner_gid < -1:
            raise ValueError("owner_uid and owner_gid must be ids (or -1)")
        if self.permissions and not re.fullmatch(r"[0-7]{3}", self.permissions):
            raise ValueError('permissions must be three octal digits, such as "600"')
        if self.delete_retired_after_days < 0:
            raise ValueError("delete_retired_after_days must not be negative")
        if self.ready_timeout <= 0 or self.poll_interval <= 0:
            raise ValueError("ready_timeout and poll_interval must be positive")

    def conversion_path(self, environ: Mapping[str, str]) -> Path:
        """Where conversions are cached (``environ``: the command's environment)."""
        return conversion_directory(self.conversion_dir, environ)


def read_session(config: OpenNebulaConfig, env: Mapping[str, str]) -> tuple[str, str]:
    """(endpoint, "user:password") as the ONE command-line tools find them, the variables
    (``ONE_XMLRPC``, ``ONE_AUTH``, ``HOME``) taken from ``env`` (the command's environment)."""
    endpoint = config.endpoint or env.get("ONE_XMLRPC") or DEFAULT_ENDPOINT
    auth = Path(
        config.auth_file or env.get("ONE_AUTH") or home_directory(env) / ".one" / "one_auth"
    )
    try:
        line = auth.read_text(encoding="utf-8").strip().splitlines()[0].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        raise BackendConfigError(f"cannot read OpenNebula credentials from {auth}") from None
    if ":" not in line:
        raise BackendConfigError(f"{auth}: expected one line user:password")
    return endpoint, line


def _timeout_transport(https: bool, timeout: float) -> Any:
    """pyone's requests-based XML-RPC transport, with ``timeout`` on connect and read."""
    import requests

    base: Any = importlib.import_module("pyone.server_xrpc").RequestsTransport

    class TimeoutTransport(base):  # type: ignore[misc]
        def request(self, host: Any, handler: Any, body: Any, verbose: bool = False) -> Any:
            url = self._build_url(host, handler)
            response = requests.post(
                url, data=body, headers=self.headers, verify=self.https_verify, timeout=timeout
            )
            try:
                response.raise_for_status()
            except requests.RequestException as exc:
                raise xmlrpc.client.ProtocolError(
                    url, response.status_code, str(exc), dict(response.headers)
                ) from None
            return self.parse_response(response)

    transport = TimeoutTransport()
    transport.set_https(https)
    transport.set_https_verify(True)
    return transport


#: The calls whose answers carry IMAGE documents, checked before the backend reads them.
_IMAGE_DOCUMENTS = frozenset({"imagepool.info", "image.info"})


class OneClient:
    """The oned XML-RPC calls this backend makes, through pyone, with one-line errors."""

    def __init__(self, endpoint: str, session: str, *, timeout: float = 60.0) -> None:
        self.endpoint = endpoint
        pyone = importlib.import_module("pyone")
        self._pyone = pyone
        self._parse_error: type[Exception] = importlib.import_module(
            "pyone.bindings.supbind"
        ).GDSParseError
        # pyone's own timeout= only sets the process-wide socket default, which requests ignores:
        # pass none, and give its XML-RPC transport a real connect/read timeout (issue 17 §4).
        self._server: Any = pyone.OneServer(endpoint, session=session)
        vars(self._server)["_ServerProxy__transport"] = _timeout_transport(
            endpoint.startswith("https"), timeout
        )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        pyone = self._pyone
        try:
            yield
        except pyone.OneAuthenticationException as exc:
            message = f"OpenNebula refused our credentials ({what}): {exc}"
            raise BackendUnavailableError(message) from None
        except pyone.OneException as exc:
            raise BackendError(f"OpenNebula: {what} failed: {exc}") from None
        except OSError as exc:  # requests' ConnectionError is an OSError
            raise BackendUnavailableError(
                f"cannot reach OpenNebula at {self.endpoint} ({what}): {exc}"
            ) from None
        except (ValueError, TypeError, AttributeError, self._parse_error) as exc:
            # pyone could not turn oned's XML into objects: a malformed answer, not our bug.
            raise BackendError(
                f"OpenNebula: {what} returned a malformed answer ({type(exc).__name__})"
            ) from None

    def call(self, method: str, *args: Any) -> Any:
        """``one.<method>(session, *args)``, e.g. ``call("image.info", 5)``."""
        target = self._server
        for part in method.split("."):
            target = getattr(target, part)
        with self._errors(f"one.{method}"):
            result = target(*args)
        if method in _IMAGE_DOCUMENTS:
            problem = check_images(list(result.IMAGE) if method == "imagepool.info" else [result])
            if problem is not None:
                raise BackendError(
                    f"OpenNebula: one.{method} returned a malformed answer: {problem}"
                )
        return result
