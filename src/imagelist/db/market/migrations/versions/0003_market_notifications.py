"""Notification mails sent by ``imagelist-market notify``, claimed before sending so that each
goes out once (ADR 0025).

Revision ID: 0003_market_notifications
Revises: 0002_market_job_lease
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_market_notifications"
down_revision = "0002_market_job_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_sent_notification_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_notification")),
        sa.UniqueConstraint("kind", "subject", "person_id", name=op.f("uq_sent_notification_kind")),
    )
    with op.batch_alter_table("sent_notification", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sent_notification_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sent_notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sent_notification_person_id"))
    op.drop_table("sent_notification")
