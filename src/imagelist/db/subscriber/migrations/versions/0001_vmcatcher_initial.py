"""vmcatcher: endorsers, subscriptions, image definitions, list and image instances.

The tables of vmcatcher 0.6 (reference §2.5) with their names, unbounded text, a 64-bit image
size, the subscription columns for conditional GET, hv:uri tracking and trust reset, one link
per (subscription, endorser), and indexes on the foreign keys.

Revision ID: 0001_vmcatcher_initial
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_vmcatcher_initial"
down_revision = None
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=f"fk_{table}_{column}_{target}",
        ondelete="CASCADE",
        onupdate="CASCADE",
    )


def _index(table: str, column: str) -> None:
    op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    op.create_table(
        "endorser",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endorser"),
        sa.UniqueConstraint("identifier", name="uq_endorser_identifier"),
    )
    op.create_table(
        "endorserPrincible",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hv_dn", sa.Text(), nullable=False),
        sa.Column("hv_ca", sa.Text(), nullable=False),
        sa.Column("endorser", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endorserPrincible"),
        sa.UniqueConstraint("hv_dn", name="uq_endorserPrincible_hv_dn"),
        _fk("endorserPrincible", "endorser", "endorser"),
    )
    _index("endorserPrincible", "endorser")
    op.create_table(
        "subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("authorised", sa.Boolean(), nullable=False),
        sa.Column("imagelist_latest", sa.Integer(), nullable=True),
        sa.Column("updated", sa.DateTime(), nullable=True),
        sa.Column("trustAnchor", sa.Integer(), nullable=False),
        sa.Column("userName", sa.Text(), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("updateMode", sa.Integer(), nullable=False),
        sa.Column("list_uri", sa.Text(), nullable=True),
        sa.Column("http_etag", sa.Text(), nullable=True),
        sa.Column("http_last_modified", sa.Text(), nullable=True),
        sa.Column("allow_rollback", sa.Boolean(), nullable=False),
        sa.Column("reimport", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscription"),
        sa.UniqueConstraint("identifier", name="uq_subscription_identifier"),
        sa.UniqueConstraint("uri", name="uq_subscription_uri"),
    )
    op.create_table(
        "subscriptionAuth",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription", sa.Integer(), nullable=False),
        sa.Column("endorser", sa.Integer(), nullable=False),
        sa.Column("authorised", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptionAuth"),
        sa.UniqueConstraint("subscription", "endorser", name="uq_subscriptionAuth_subscription"),
        _fk("subscriptionAuth", "subscription", "subscription"),
        _fk("subscriptionAuth", "endorser", "endorser"),
    )
    _index("subscriptionAuth", "subscription")
    _index("subscriptionAuth", "endorser")
    op.create_table(
        "ImageDefinition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("latest", sa.Integer(), nullable=True),
        sa.Column("cache", sa.Integer(), nullable=False),
        sa.Column("subscription", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ImageDefinition"),
        sa.UniqueConstraint("identifier", name="uq_ImageDefinition_identifier"),
        _fk("ImageDefinition", "subscription", "subscription"),
    )
    _index("ImageDefinition", "subscription")
    op.create_table(
        "imageListInstance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("data_hash", sa.String(128), nullable=False),
        sa.Column("expired", sa.DateTime(), nullable=True),
        sa.Column("sub_auth", sa.Integer(), nullable=False),
        sa.Column("imported", sa.DateTime(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_imageListInstance"),
        _fk("imageListInstance", "sub_auth", "subscriptionAuth"),
    )
    _index("imageListInstance", "sub_auth")
    op.create_table(
        "ImageInstance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("hypervisor", sa.Text(), nullable=False),
        sa.Column("sha512", sa.String(128), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("os", sa.Text(), nullable=True),
        sa.Column("osversion", sa.Text(), nullable=True),
        sa.Column("arch", sa.Text(), nullable=True),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("fkIdentifier", sa.Integer(), nullable=False),
        sa.Column("fkimagelistinstance", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ImageInstance"),
        _fk("ImageInstance", "fkIdentifier", "ImageDefinition"),
        _fk("ImageInstance", "fkimagelistinstance", "imageListInstance"),
    )
    _index("ImageInstance", "sha512")
    _index("ImageInstance", "fkIdentifier")
    _index("ImageInstance", "fkimagelistinstance")


def downgrade() -> None:
    for table in (
        "ImageInstance",
        "imageListInstance",
        "ImageDefinition",
        "subscriptionAuth",
        "subscription",
        "endorserPrincible",
        "endorser",
    ):
        op.drop_table(table)
