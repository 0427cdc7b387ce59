"""The login pages: X.509 through the trusted proxy, OIDC when configured, logout."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..people import find_person
from .context import DbSession, render, web
from .identity import ForwardedIdentity, forwarded_identity, log_in, register, session_user
from .sessions import check_csrf

__all__ = ["router", "safe_next"]

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(check_csrf)])


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another host, a scheme) gives ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, session: DbSession, next: str = "/") -> Response:
    me = session_user(request, session)
    request.state.me = me
    identity = forwarded_identity(request)
    known = None
    if identity is not None:
        known = find_person(session, "x509", identity.subject, identity.issuer)
    return render(
        request,
        "login.html",
        identity=identity,
        known=known,
        register=web(request).web.register_on_login,
        next=safe_next(next),
    )


def _refused(
    request: Request,
    status_code: int,
    identity: ForwardedIdentity | None,
    next: str,
    error: str,
) -> Response:
    """The login page again, nobody logged in, with why the certificate login was refused."""
    request.state.me = None
    return render(
        request,
        "login.html",
        status_code=status_code,
        identity=identity,
        known=None,
        register=False,
        next=safe_next(next),
        error=error,
    )


@router.post("/login")
def login_x509(request: Request, session: DbSession, next: str = Form("/")) -> Response:
    identity = forwarded_identity(request)
    if identity is None:
        error = "No verified client certificate came with this request."
        return _refused(request, 401, None, next, error)
    person = find_person(session, "x509", identity.subject, identity.issuer)
    if person is None:
        if not web(request).web.register_on_login:
            error = "This certificate is not registered with the marketplace."
            return _refused(request, 403, identity, next, error)
        person = register(
            session, "x509", identity.subject, identity.issuer, identity.common_name, None
        )
    log_in(request, person, "x509")
    session.commit()
    log.info("login: person %s by certificate %s", person.id, identity.subject)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("/login/oidc")
async def login_oidc(request: Request) -> Response:
    client = _oidc_client(request)
    if client is None:
        return Response("OIDC login is not configured", status_code=404)
    redirect_uri = web(request).settings.public_base_url + "/login/oidc/callback"
    result: Response = await client.authorize_redirect(request, redirect_uri)
    return result


@router.get("/login/oidc/callback")
async def login_oidc_callback(request: Request, session: DbSession) -> Response:
    client = _oidc_client(request)
    if client is None:
        return Response("OIDC login is not configured", status_code=404)
    try:
        token: dict[str, Any] = await client.authorize_access_token(request)
    except Exception as exc:
        log.warning("OIDC login refused: %s", exc)
        return Response("the OIDC login failed; try again", status_code=401)
    claims = dict(token.get("userinfo") or {})
    if "name" not in claims or "email" not in claims:
        # Many providers put profile claims only in the userinfo answer, not the ID token.
        try:
            more = await client.userinfo(token=token)
        except Exception as exc:
            log.info("OIDC userinfo not read: %s", exc)
            more = {}
        if more.get("sub") == claims.get("sub"):
            claims = {**dict(more), **claims}
    subject, issuer = str(claims.get("sub", "")), str(claims.get("iss", ""))
    if not subject or not issuer:
        return Response("the OIDC provider sent no subject", status_code=401)
    person = find_person(session, "oidc", subject, issuer)
    if person is None:
        if not web(request).web.register_on_login:
            return Response("this account is not registered with the marketplace", 403)
        name = str(claims.get("name") or claims.get("preferred_username") or subject)
        email = claims.get("email")
        person = register(session, "oidc", subject, issuer, name, str(email) if email else None)
    log_in(request, person, "oidc")
    session.commit()
    return RedirectResponse("/", status_code=303)


def _oidc_client(request: Request) -> Any:
    context = web(request)
    if not context.web.oidc_enabled:
        return None
    if context.oauth is None:
        from authlib.integrations.starlette_client import (  # type: ignore[import-untyped]
            OAuth,
        )

        from .settings import load_secret

        secret_file = context.web.oidc_client_secret_file
        oauth = OAuth()
        oauth.register(
            "oidc",
            client_id=context.web.oidc_client_id,
            client_secret=load_secret(secret_file, min_length=1).decode() if secret_file else None,
            server_metadata_url=context.web.oidc_issuer.rstrip("/")
            + "/.well-known/openid-configuration",
            client_kwargs={"scope": context.web.oidc_scope},
        )
        context.oauth = oauth
    return context.oauth.oidc
