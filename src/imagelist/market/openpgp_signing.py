"""The marketplace's OpenPGP key (ADR 0021): ``image.list.json.asc`` on every publication.

With ``IMAGELIST_MARKET_OPENPGP_KEY`` (``MarketSettings.openpgp_key``: an armored, unencrypted
OpenPGP secret key, private to the service's user) every published list (appliance and VO lists,
and their re-signing) carries a detached OpenPGP signature over ``image.list.json`` beside the
S/MIME ``image.list``, through :func:`~imagelist.market.signing.register_detached_signer`. The
key is loaded once and again when the file changes; a key that is unusable or cannot sign now
(expired, revoked, no signing flag) stops the publication with exit 87, so that nothing is
published that subscribers with ``smime+openpgp`` would refuse.

``GET /keys/`` lists the marketplace's certificate; ``GET /keys/<FINGERPRINT>.asc`` and
``GET /keys/openpgp.asc`` serve it armored, for subscribers to register
(``vmcatcher_endorser --create -e market --openpgp-cert openpgp.asc``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..errors import ImageListError, MarketSettingsError
from ..openpgp import SigningKey, sign_detached
from ..publisher.safefiles import read_secret_file
from .signing import register_detached_signer

__all__ = ["keys_router", "load_openpgp_key", "openpgp_signature"]

_cache: dict[str, tuple[tuple[float, int], SigningKey]] = {}
_lock = threading.Lock()
_ARMOR = "application/pgp-keys"


def load_openpgp_key(path: Path) -> SigningKey:
    """The key at ``path``, reloaded when the file changed (exit 87 if unusable)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise MarketSettingsError(f"cannot read the OpenPGP key {path}: {exc.strerror}") from None
    stamp = (info.st_mtime, info.st_size)
    with _lock:
        cached = _cache.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            key = SigningKey.from_bytes(read_secret_file(path, "OpenPGP key"), source=str(path))
        except ImageListError as exc:
            raise MarketSettingsError(f"OpenPGP key: {exc}") from None
        _cache[str(path)] = (stamp, key)
        return key


def openpgp_signature(payload: bytes, settings: Any) -> bytes | None:
    """The detached signer the publication calls: None without a configured key."""
    path = getattr(settings, "openpgp_key", None)
    if path is None:
        return None
    key = load_openpgp_key(Path(path))
    try:
        return sign_detached(payload, key)
    except ImageListError as exc:
        raise MarketSettingsError(f"OpenPGP key {path} cannot sign: {exc}") from None


register_detached_signer(openpgp_signature)


def keys_router() -> APIRouter:
    """``/keys/``: the marketplace's OpenPGP certificate (reads ``app.state.settings``)."""
    router = APIRouter()

    def _key(request: Request) -> SigningKey | None:
        path = getattr(request.app.state.settings, "openpgp_key", None)
        return None if path is None else load_openpgp_key(Path(path))

    @router.get("/keys/", include_in_schema=False)
    def index(request: Request) -> Response:
        key = _key(request)
        keys = []
        if key is not None:
            keys.append(
                {
                    "fingerprint": key.fingerprint,
                    "user_ids": key.certificate.user_ids,
                    "url": f"/keys/{key.fingerprint}.asc",
                }
            )
        return JSONResponse({"openpgp": keys})

    @router.get("/keys/{name}", include_in_schema=False)
    def certificate(name: str, request: Request) -> Response:
        key = _key(request)
        if key is not None and name in ("openpgp.asc", f"{key.fingerprint}.asc"):
            return Response(key.certificate.armored, media_type=_ARMOR)
        return JSONResponse(
            {"detail": f"no key /keys/{name}", "code": "not_found"}, status_code=404
        )

    return router
