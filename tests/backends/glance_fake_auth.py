"""Test-only stand-in for Keystone in front of a real Glance (no imports beyond the stdlib).

Glance's ``context`` middleware builds the request context from the headers keystonemiddleware
would set (``X-Identity-Status``, ``X-Project-Id``, ``X-Roles``...). This filter sets them from a
token of the form ``fake:<project>:<role>[,<role>...]`` (sent by openstacksdk's ``admin_token``
auth) and strips any such headers a client sent itself. Any other token is refused with 401.
Loaded by Glance's paste pipeline (``paste.filter_factory = glance_fake_auth:filter_factory``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

_IDENTITY_HEADERS = (
    "HTTP_X_IDENTITY_STATUS",
    "HTTP_X_PROJECT_ID",
    "HTTP_X_TENANT_ID",
    "HTTP_X_TENANT",
    "HTTP_X_PROJECT_NAME",
    "HTTP_X_USER_ID",
    "HTTP_X_USER",
    "HTTP_X_ROLES",
    "HTTP_X_ROLE",
    "HTTP_X_SERVICE_CATALOG",
)


class FakeAuth:
    """Map ``X-Auth-Token: fake:<project>:<roles>`` to Keystone's identity headers."""

    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        for key in _IDENTITY_HEADERS:
            environ.pop(key, None)
        token = environ.get("HTTP_X_AUTH_TOKEN", "")
        parts = token.split(":")
        path = environ.get("PATH_INFO", "")
        if len(parts) != 3 or parts[0] != "fake" or not parts[1] or not parts[2]:
            if path in ("", "/", "/healthcheck"):  # version discovery is anonymous in Glance too
                return self.app(environ, start_response)
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"fake keystone: token must be fake:<project>:<roles>\n"]
        _, project, roles = parts
        environ["HTTP_X_IDENTITY_STATUS"] = "Confirmed"
        environ["HTTP_X_PROJECT_ID"] = project
        environ["HTTP_X_USER_ID"] = f"user-{project}"
        environ["HTTP_X_ROLES"] = roles
        return self.app(environ, start_response)


def filter_factory(global_conf: dict[str, Any], **local_conf: Any) -> Callable[[App], App]:
    """The paste.deploy filter factory."""
    return FakeAuth
