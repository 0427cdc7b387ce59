"""vmcaster: image lists, images, endorsers, their metadata and links.

Revision ID: 0001_vmcaster_initial
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001_vmcaster_initial"
down_revision = None
branch_labels = None
depends_on = None

_ID = 1024
_KEY = 255


def _object_table(name: str, column: str, *extra: sa.Column[Any]) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(column, sa.String(_ID), nullable=False),
        *extra,
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.UniqueConstraint(column, name=f"uq_{name}_{column}"),
    )


def _metadata_table(name: str, owner_column: str, owner_table: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(owner_column, sa.Integer(), nullable=False),
        sa.Column("key", sa.String(_KEY), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            [owner_column],
            [f"{owner_table}.id"],
            name=f"fk_{name}_{owner_column}",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.UniqueConstraint(owner_column, "key", name=f"uq_{name}_{owner_column}"),
    )
    op.create_index(f"ix_{name}_{owner_column}", name, [owner_column])


def _link_table(name: str, other_column: str, other_table: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("imagelist_id", sa.Integer(), nullable=False),
        sa.Column(other_column, sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["imagelist_id"],
            ["vmcaster_imagelist.id"],
            name=f"fk_{name}_imagelist_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            [other_column],
            [f"{other_table}.id"],
            name=f"fk_{name}_{other_column}",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.UniqueConstraint("imagelist_id", other_column, name=f"uq_{name}_imagelist_id"),
    )
    op.create_index(f"ix_{name}_imagelist_id", name, ["imagelist_id"])
    op.create_index(f"ix_{name}_{other_column}", name, [other_column])


def upgrade() -> None:
    _object_table("vmcaster_endorser", "subject")
    _object_table(
        "vmcaster_imagelist",
        "identifier",
        sa.Column("updated", sa.DateTime(timezone=True), nullable=True),
    )
    _object_table("vmcaster_image", "identifier")
    _metadata_table("vmcaster_endorser_metadata", "endorser_id", "vmcaster_endorser")
    _metadata_table("vmcaster_imagelist_metadata", "imagelist_id", "vmcaster_imagelist")
    _metadata_table("vmcaster_image_metadata", "image_id", "vmcaster_image")
    _link_table("vmcaster_endorsement", "endorser_id", "vmcaster_endorser")
    _link_table("vmcaster_imagelist_image", "image_id", "vmcaster_image")


def downgrade() -> None:
    for name in (
        "vmcaster_imagelist_image",
        "vmcaster_endorsement",
        "vmcaster_image_metadata",
        "vmcaster_imagelist_metadata",
        "vmcaster_endorser_metadata",
        "vmcaster_image",
        "vmcaster_imagelist",
        "vmcaster_endorser",
    ):
        op.drop_table(name)
