"""Integrity jobs record the process running them and a heartbeat, so that a job abandoned by
a restart (or a dead worker among several) is noticed and marked failed with the reason.

Revision ID: 0002_market_job_lease
Revises: 0001_market_initial
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_market_job_lease"
down_revision = "0001_market_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integrity_job") as batch_op:
        batch_op.add_column(sa.Column("worker", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("heartbeat", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("integrity_job") as batch_op:
        batch_op.drop_column("heartbeat")
        batch_op.drop_column("worker")
