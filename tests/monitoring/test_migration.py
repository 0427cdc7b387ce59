"""Revision 0002 (monitoring) upgrades a database at 0001 without losing a row (SQLite, PG)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from imagelist.db.engine import make_engine, migrate
from imagelist.db.subscriber import HEAD_REVISION, SCRIPT_LOCATION, VERSION_TABLE, open_database
from imagelist.db.subscriber.models import SubscriptionStatus
from imagelist.monitoring.record import (
    UpdateRecord,
    add_counters,
    read_samples,
    record_updates,
    set_gauges,
)

PREVIOUS = "0001_vmcatcher_initial"


def test_upgrade_from_the_previous_head(database_url: str) -> None:
    old = make_engine(database_url)
    migrate(old, SCRIPT_LOCATION, revision=PREVIOUS)
    with old.begin() as connection:
        connection.execute(
            sa.text(
                'insert into subscription (id, identifier, uri, authorised, "trustAnchor", '
                '"updateMode", allow_rollback, reimport) '
                "values (7, 'sub-7', 'http://example/list', true, 0, 0, false, false)"
            )
        )
        tables = set(sa.inspect(connection).get_table_names())
    old.dispose()
    assert "subscriptionStatus" not in tables

    engine = open_database(database_url)
    with engine.connect() as connection:
        revision = connection.execute(sa.text(f"select version_num from {VERSION_TABLE}"))
        assert revision.scalar_one() == HEAD_REVISION
        tables = set(sa.inspect(connection).get_table_names())
        assert {"subscriptionStatus", "monitoringMetric"} <= tables
        rows = connection.execute(sa.text("select id, identifier from subscription")).all()
        assert [tuple(row) for row in rows] == [(7, "sub-7")]

    first = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    second = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    record_updates(engine, [UpdateRecord(7, 0, "ok")], first)
    record_updates(engine, [UpdateRecord(7, 10, "HTTP 404\nNot Found")], second)
    with Session(engine) as session:
        row = session.scalars(select(SubscriptionStatus)).one()
        assert (row.last_attempt, row.last_success) == (second, first)
        assert (row.last_error, row.last_exit_code) == ("HTTP 404 Not Found", 10)

    add_counters(engine, {("downloads_total", (("result", "ok"),)): 2})
    add_counters(engine, {("downloads_total", (("result", "ok"),)): 3})
    set_gauges(engine, {("run_exit_code", (("command", "vmcatcher_cache"),)): 41})
    set_gauges(engine, {("run_exit_code", (("command", "vmcatcher_cache"),)): 0})
    samples = {(s.name, tuple(s.labels.items())): s.value for s in read_samples(engine)}
    assert samples == {
        ("downloads_total", (("result", "ok"),)): 5.0,
        ("run_exit_code", (("command", "vmcatcher_cache"),)): 0.0,
    }

    with engine.begin() as connection:  # deleting a subscription deletes its status
        connection.execute(sa.text("delete from subscription where id = 7"))
        left = connection.execute(sa.text('select count(*) from "subscriptionStatus"'))
        assert left.scalar_one() == 0
    engine.dispose()
