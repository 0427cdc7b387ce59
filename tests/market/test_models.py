"""The market schema: migrations reach the head, constraints hold on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagelist.db.market import HEAD_REVISION, SCRIPT_LOCATION, VERSION_TABLE, open_database
from imagelist.db.market.models import (
    Appliance,
    ApplianceVersion,
    Base,
    Person,
    Vo,
    VoList,
)
from imagelist.errors import MarketSettingsError
from imagelist.market.settings import MarketSettings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_head_revision_is_the_newest_script() -> None:
    names = sorted(p.stem for p in (SCRIPT_LOCATION / "versions").glob("0*.py"))
    assert names[-1] == HEAD_REVISION


def test_migration_creates_every_model_table(database_url: str) -> None:
    engine = open_database(database_url)
    tables = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert VERSION_TABLE in tables
    with engine.connect() as connection:
        stamped = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    assert stamped == HEAD_REVISION
    engine.dispose()


def _appliance(session: Session) -> Appliance:
    person = Person(display_name="Ann", created=NOW)
    session.add(person)
    session.flush()
    appliance = Appliance(
        slug="va", uuid="u-1", title="VA", owner_id=person.id, created=NOW, description=""
    )
    session.add(appliance)
    session.flush()
    return appliance


def _version(appliance: Appliance, name: str, state: str) -> ApplianceVersion:
    return ApplianceVersion(
        appliance_id=appliance.id,
        version=name,
        uuid=f"v-{name}",
        state=state,
        notes="",
        expires_at=NOW + timedelta(days=90),
        created_at=NOW,
    )


def test_one_published_version_per_appliance(database_url: str) -> None:
    engine = open_database(database_url)
    with Session(engine) as session:
        appliance = _appliance(session)
        session.add(_version(appliance, "1", "published"))
        session.add(_version(appliance, "2", "archived"))
        session.add(_version(appliance, "3", "archived"))
        session.commit()
        session.add(_version(appliance, "4", "published"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        assert session.scalar(sa.select(sa.func.count()).select_from(ApplianceVersion)) == 3
        appliance_id = appliance.id
        session.add(_version(session.get_one(Appliance, appliance_id), "1", "draft"))
        with pytest.raises(IntegrityError):  # duplicate version name
            session.commit()
    engine.dispose()


def test_one_draft_and_one_published_vo_list(database_url: str) -> None:
    engine = open_database(database_url)
    with Session(engine) as session:
        vo = Vo(name="vo.example.org", description="", created=NOW)
        session.add(vo)
        session.flush()
        for state in ("draft", "published", "obsolete", "obsolete"):
            session.add(VoList(vo_id=vo.id, uuid="l-1", state=state, created_at=NOW))
        session.commit()
        session.add(VoList(vo_id=vo.id, uuid="l-1", state="draft", created_at=NOW))
        with pytest.raises(IntegrityError):
            session.commit()
    engine.dispose()


def test_settings_embedded_default(tmp_path: Path) -> None:
    settings = MarketSettings.embedded(tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'market.db'}"
    assert settings.store_dir == tmp_path.resolve() / "data" / "store"
    settings.ensure_dirs()
    assert settings.store_dir.is_dir()


def test_settings_from_env_and_proxies(tmp_path: Path) -> None:
    env = {
        "IMAGELIST_MARKET_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
        "IMAGELIST_MARKET_MAX_EXPIRY_MONTHS": "6",
        "IMAGELIST_MARKET_PUBLIC_BASE_URL": "https://market.example.org/",
    }
    settings = MarketSettings.from_env(tmp_path, env)
    assert settings.max_expiry_months == 6
    assert settings.public_base_url == "https://market.example.org"
    assert settings.is_trusted_proxy("10.1.2.3")
    assert settings.is_trusted_proxy("127.0.0.1")
    assert not settings.is_trusted_proxy("192.168.0.1")
    assert not settings.is_trusted_proxy("not-an-ip")
    with pytest.raises(MarketSettingsError, match="IMAGELIST_MARKET_MAX_EXPIRY_MONTHS"):
        MarketSettings.from_env(tmp_path, {"IMAGELIST_MARKET_MAX_EXPIRY_MONTHS": "x"})
    with pytest.raises(MarketSettingsError, match="trusted proxy"):
        MarketSettings.embedded(tmp_path, trusted_proxies=("proxy.example",))


def test_settings_take_the_shared_variables_from_the_mapping_given(tmp_path: Path) -> None:
    """ADR 0028: the OCI access, the IGTF https switch and the SQLite file mode come from the
    variables every command shares, in the mapping passed (not from the process)."""
    env = {
        "IMAGELIST_OCI_PLAIN_HTTP": "registry.test:5000",
        "VMCATCHER_HTTPS_IGTF": "no",
        "IMAGELIST_DB_FILE_MODE": "0640",
        "IMAGELIST_MARKET_HTTPS_IGTF": "yes",  # not a market variable: ignored
    }
    settings = MarketSettings.from_env(tmp_path, env)
    assert settings.registry_access.plain_http == frozenset({"registry.test:5000"})
    assert settings.https_igtf is False
    assert settings.db_file_mode == 0o640
    defaults = MarketSettings.from_env(tmp_path, {})
    assert defaults.registry_access.plain_http == frozenset()
    assert defaults.https_igtf is True
    assert defaults.db_file_mode == 0o600


def test_migrations_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = open_database(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = [
            diff
            for diff in compare_metadata(context, Base.metadata)
            if not (isinstance(diff, tuple) and diff[0] == "remove_table")
        ]
    engine.dispose()
    assert differences == []
