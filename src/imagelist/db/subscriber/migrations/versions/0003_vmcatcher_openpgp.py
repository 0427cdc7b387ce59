"""OpenPGP beside S/MIME (ADR 0021).

* ``endorserOpenpgpCert``: the OpenPGP certificates of an endorser (``vmcatcher_endorser
  --openpgp-cert FILE``), one row per certificate: its primary fingerprint (upper-case hex,
  unique: a certificate belongs to one endorser) and the armored certificate.
* ``subscription.signature_policy``: ``smime`` (default, the behaviour of every existing
  subscription), ``smime+openpgp`` or ``openpgp``.

Revision ID: 0003_vmcatcher_openpgp
Revises: 0002_vmcatcher_monitoring
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_vmcatcher_openpgp"
down_revision = "0002_vmcatcher_monitoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endorserOpenpgpCert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endorser", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endorserOpenpgpCert"),
        sa.UniqueConstraint("fingerprint", name="uq_endorserOpenpgpCert_fingerprint"),
        sa.ForeignKeyConstraint(
            ["endorser"],
            ["endorser.id"],
            name="fk_endorserOpenpgpCert_endorser_endorser",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )
    op.create_index("ix_endorserOpenpgpCert_endorser", "endorserOpenpgpCert", ["endorser"])
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(
            sa.Column("signature_policy", sa.Text(), nullable=False, server_default="smime")
        )


def downgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("signature_policy")
    op.drop_index("ix_endorserOpenpgpCert_endorser", table_name="endorserOpenpgpCert")
    op.drop_table("endorserOpenpgpCert")
