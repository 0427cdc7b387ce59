"""Helpers of the market tests: a market on a database, people with tokens, DB snapshots."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from imagelist.db.market.models import Base
from imagelist.market.api import create_app
from imagelist.market.common import CLI
from imagelist.market.people import add_identity, create_person, create_vo, grant_role
from imagelist.market.settings import MarketSettings
from imagelist.market.tokens import create_token

SHA = hashlib.sha512(b"image bytes").hexdigest()


def image_body(
    uri: str, *, title: str = "Ubuntu", size: int = 11, sha512: str = SHA
) -> dict[str, Any]:
    """A valid POST /versions/{id}/images body."""
    return {
        "title": title,
        "uri": uri,
        "format": "qcow2",
        "hypervisors": ["kvm"],
        "arch": "x86_64",
        "os_family": "linux",
        "os_name": "Ubuntu",
        "os_version": "24.04",
        "size": size,
        "sha512": sha512,
        "cores_min": 1,
        "ram_min": 512,
        "comments": "test image",
    }


@dataclass
class Market:
    """A market app on one database, with a TestClient (lifespan run: the job runner too)."""

    settings: MarketSettings
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)

    @property
    def engine(self) -> sa.Engine:
        engine: sa.Engine = self.client.app.state.engine  # type: ignore[attr-defined]
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as session, session.begin():
            yield session

    def person(
        self,
        name: str,
        *,
        scopes: tuple[str, ...] = ("market:write",),
        dn: str | None = None,
        issuer: str | None = None,
    ) -> str:
        """A person called ``name`` with a token (returned) and, if given, an X.509 identity."""
        with self.session() as session:
            person = create_person(session, CLI, name)
            _token, secret = create_token(
                session, CLI, person.id, "test", list(scopes), days=30, max_days=366
            )
            if dn is not None and issuer is not None:
                add_identity(session, CLI, person.id, "x509", dn, issuer)
            self.people[name] = person.id
        self.tokens[name] = secret
        return secret

    def vo(self, name: str, manager: str, *, gated: bool = False) -> None:
        with self.session() as session:
            create_vo(session, CLI, name, gated=gated)
            grant_role(session, CLI, name, self.people[manager], "manager")

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if who is not None:
            headers.update(self.auth(who))
        return self.client.request(method, path, headers=headers, **kwargs)


def certificate_headers(person: Any) -> dict[str, str]:
    """The headers the https proxy sends for a client that showed ``person``'s certificate
    (a :class:`tests.pki` credential) and passed its check."""
    cert = person.cert
    return {
        "X-SSL-Client-Verify": "SUCCESS",
        "X-SSL-Client-S-DN": cert.subject.rfc4514_string(),
        "X-SSL-Client-I-DN": cert.issuer.rfc4514_string(),
    }


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every market table (for 'the database is unchanged')."""
    with engine.connect() as connection:
        return {
            name: [
                tuple(row)
                for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for name, table in Base.metadata.tables.items()
        }


@contextmanager
def running_market(settings: MarketSettings, **client: Any) -> Iterator[Market]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False, **client) as test_client:
        yield Market(settings, test_client)


def settings_for(tmp_path: Path, database_url: str, **overrides: Any) -> MarketSettings:
    return MarketSettings.embedded(tmp_path / "market", database_url=database_url, **overrides)
