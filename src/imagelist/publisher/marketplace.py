"""``protocol = "marketplace"``: ``--upload-imagelist`` posts the signed list to an
``imagelist-market`` import endpoint (what the ``egiappdb`` protocol did for AppDB)::

    [market]
    server = "market.example.org"
    protocol = "marketplace"
    uriMatch = "https://market\\.example\\.org/store/vappliance/([a-z0-9-]+)/image\\.list"
    uriReplace = "https://market.example.org/api/v1/appliances/\\1/versions/import"
    token_file = "/home/me/.config/vmcaster/market.token"
    ca_file = "/etc/pki/market-ca.pem"

The list's ``hv:uri`` (the appliance's list on the marketplace) is mapped to the import URL as
for every protocol. The API token is read from ``token_file`` (a regular file of at most 1 MiB
that group and others cannot read, like the signing key: exit 24 otherwise) and sent as
``Authorization: Bearer``; it never appears on a command line or in a message. Only ``https://``
targets are accepted; the server is verified with ``ca_file`` (a PEM bundle) if given, else the
system trust store; redirects are not followed. The marketplace's answer (the created version)
is kept in :attr:`MarketplaceTransport.receipt` for vmcaster to report. A refusal is one line
with the marketplace's ``detail`` and ``code``, exit 77.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests
import urllib3.exceptions

from ..errors import PublishConfigError, UploadFailedError
from .config import ServerSection
from .safefiles import read_secret_file
from .transports import Transport

__all__ = ["IMPORT_TIMEOUT", "MarketplaceTransport", "read_token"]

logger = logging.getLogger(__name__)

#: (connect, read) seconds: the marketplace verifies the list before it answers.
IMPORT_TIMEOUT = (15.0, 300.0)
_TOKEN = re.compile(r"[\x21-\x7e]{8,4096}")
_MAX_ANSWER = 64 * 1024


def read_token(path: Path) -> str:
    """The API token in ``path``: one line of printable ASCII (exit 24 if unusable)."""
    from ..errors import SigningCredentialError

    data = read_secret_file(path, "marketplace token file")
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if not _TOKEN.fullmatch(token):
        raise SigningCredentialError(
            f"marketplace token file {path} does not hold one token (printable ASCII, one line)"
        )
    return token


class MarketplaceTransport(Transport):
    """POSTs the signed list to the import endpoint the section maps ``hv:uri`` to."""

    def __init__(self, section: ServerSection, environ: Mapping[str, str]) -> None:
        super().__init__(section, environ)
        #: The marketplace's answer to the last successful import (id, appliance, version,
        #: state, url).
        self.receipt: dict[str, Any] | None = None

    def put_many(self, files: Sequence[tuple[Path, str]]) -> list[str]:
        """The marketplace takes the signed list only: no OpenPGP companions (ADR 21)."""
        if len(files) != 1:
            raise PublishConfigError(
                f"{self.section.source}: section [{self.section.name}]: protocol marketplace "
                "imports the S/MIME list only; publish without --openpgp-key (the marketplace "
                "signs its own publications)"
            )
        return super().put_many(files)

    def put(self, source: Path, uri: str) -> str:
        target = self.target(uri)
        if not target.startswith("https://"):
            raise PublishConfigError(
                f"{self.section.source}: section [{self.section.name}]: the marketplace import "
                f"URL {target} is not https://"
            )
        token = read_token(Path(str(self.section.options["token_file"])).expanduser())
        ca_file = self.section.options.get("ca_file")
        verify: bool | str = str(Path(str(ca_file)).expanduser()) if ca_file else True
        body = source.read_bytes()
        try:
            response = requests.post(
                target,
                data=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/octet-stream",
                    "Accept": "application/json",
                },
                verify=verify,
                timeout=IMPORT_TIMEOUT,
                allow_redirects=False,
                stream=True,  # the answer is read up to its bound (_json), never whole
            )
        except requests.exceptions.SSLError as exc:
            raise UploadFailedError(
                f"marketplace import to {target}: TLS verification failed: {_cause(exc)}"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise UploadFailedError(f"marketplace import to {target}: {_cause(exc)}") from None
        try:
            answer = _json(response)
        finally:
            response.close()
        if response.status_code != 201 or answer is None:
            detail = answer.get("detail") if answer else None
            code = answer.get("code") if answer else None
            shown = f"{detail} ({code})" if detail else (response.reason or "no details")
            raise UploadFailedError(
                f"marketplace import to {target} refused: HTTP {response.status_code}: {shown}"
            )
        self.receipt = answer
        logger.info("marketplace created version %s of appliance %s", answer.get("version"), target)
        return target


def _json(response: requests.Response) -> dict[str, Any] | None:
    """The answer's JSON object: at most ``_MAX_ANSWER`` bytes are read (None if longer)."""
    try:
        body = response.raw.read(_MAX_ANSWER + 1, decode_content=True)
    except (OSError, requests.RequestException, urllib3.exceptions.HTTPError):
        return None
    if len(body) > _MAX_ANSWER:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
