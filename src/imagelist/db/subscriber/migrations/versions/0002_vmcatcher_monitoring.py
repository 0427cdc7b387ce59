"""Monitoring: the outcome of each subscription's last update, and metrics kept across runs.

* ``subscriptionStatus``: one row per subscription with the time of the last attempt, of the
  last success, the last error (NULL after a success) and the last exit code, written by
  ``vmcatcher_subscribe -U``.
* ``monitoringMetric``: Prometheus counters and last-run gauges kept across runs (download
  bytes and downloads by result, handler failures by event, run duration and exit code per
  command), one row per (name, labels).

Revision ID: 0002_vmcatcher_monitoring
Revises: 0001_vmcatcher_initial
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_vmcatcher_monitoring"
down_revision = "0001_vmcatcher_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptionStatus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription", sa.Integer(), nullable=False),
        sa.Column("last_attempt", sa.DateTime(), nullable=True),
        sa.Column("last_success", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_exit_code", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptionStatus"),
        sa.UniqueConstraint("subscription", name="uq_subscriptionStatus_subscription"),
        sa.ForeignKeyConstraint(
            ["subscription"],
            ["subscription.id"],
            name="fk_subscriptionStatus_subscription_subscription",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )
    op.create_table(
        "monitoringMetric",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitoringMetric"),
        sa.UniqueConstraint("name", "labels", name="uq_monitoringMetric_name"),
    )


def downgrade() -> None:
    op.drop_table("monitoringMetric")
    op.drop_table("subscriptionStatus")
