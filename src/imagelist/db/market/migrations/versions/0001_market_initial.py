"""The marketplace's first schema: people, identities, VOs and roles, appliances, versions,
image instances, integrity jobs, VO lists, publications, API tokens and the audit trail (ADR 0019).

Revision ID: 0001_market_initial
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_market_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)

    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    op.create_table(
        "published_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("hv_version", sa.String(length=32), nullable=False),
        sa.Column("json", sa.LargeBinary(), nullable=False),
        sa.Column("smime", sa.LargeBinary(), nullable=False),
        sa.Column("pgp_sig", sa.LargeBinary(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_document")),
        sa.UniqueConstraint(
            "kind", "subject_id", "hv_version", name=op.f("uq_published_document_kind")
        ),
    )
    with op.batch_alter_table("published_document", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_published_document_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "vo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("gated", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vo")),
        sa.UniqueConstraint("name", name=op.f("uq_vo_name")),
    )
    op.create_table(
        "access_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_access_token_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_token")),
        sa.UniqueConstraint("person_id", "name", name=op.f("uq_access_token_person_id")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_access_token_token_sha256")),
    )
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_token_person_id"), ["person_id"], unique=False)

    op.create_table(
        "appliance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["person.id"], name=op.f("fk_appliance_owner_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appliance")),
        sa.UniqueConstraint("slug", name=op.f("uq_appliance_slug")),
        sa.UniqueConstraint("uuid", name=op.f("uq_appliance_uuid")),
    )
    with op.batch_alter_table("appliance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appliance_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_identity_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity")),
        sa.UniqueConstraint("kind", "subject", "issuer", name=op.f("uq_identity_kind")),
    )
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_person_id"), ["person_id"], unique=False)

    op.create_table(
        "vo_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vo_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("hv_version", sa.String(length=14), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["person.id"],
            name=op.f("fk_vo_list_published_by_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["vo_id"], ["vo.id"], name=op.f("fk_vo_list_vo_id_vo"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vo_list")),
    )
    with op.batch_alter_table("vo_list", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vo_list_vo_id"), ["vo_id"], unique=False)
        batch_op.create_index(
            "uq_vo_list_draft",
            ["vo_id"],
            unique=True,
            sqlite_where=sa.text("state = 'draft'"),
            postgresql_where=sa.text("state = 'draft'"),
        )
        batch_op.create_index(
            "uq_vo_list_published",
            ["vo_id"],
            unique=True,
            sqlite_where=sa.text("state = 'published'"),
            postgresql_where=sa.text("state = 'published'"),
        )

    op.create_table(
        "vo_role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("vo_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_vo_role_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vo_id"], ["vo.id"], name=op.f("fk_vo_role_vo_id_vo"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vo_role")),
        sa.UniqueConstraint("person_id", "vo_id", "role", name=op.f("uq_vo_role_person_id")),
    )
    with op.batch_alter_table("vo_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vo_role_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vo_role_vo_id"), ["vo_id"], unique=False)

    op.create_table(
        "appliance_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appliance_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["appliance_id"],
            ["appliance.id"],
            name=op.f("fk_appliance_member_appliance_id_appliance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_appliance_member_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appliance_member")),
        sa.UniqueConstraint(
            "appliance_id", "person_id", name=op.f("uq_appliance_member_appliance_id")
        ),
    )
    with op.batch_alter_table("appliance_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appliance_member_appliance_id"), ["appliance_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_appliance_member_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "appliance_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appliance_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("endorsed_list", sa.LargeBinary(), nullable=True),
        sa.Column("endorsed_dn", sa.Text(), nullable=True),
        sa.Column("endorsed_issuer", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["appliance_id"],
            ["appliance.id"],
            name=op.f("fk_appliance_version_appliance_id_appliance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["person.id"],
            name=op.f("fk_appliance_version_created_by_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["person.id"],
            name=op.f("fk_appliance_version_published_by_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appliance_version")),
        sa.UniqueConstraint(
            "appliance_id", "version", name=op.f("uq_appliance_version_appliance_id")
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_appliance_version_uuid")),
    )
    with op.batch_alter_table("appliance_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appliance_version_appliance_id"), ["appliance_id"], unique=False
        )
        batch_op.create_index(
            "uq_appliance_version_published",
            ["appliance_id"],
            unique=True,
            sqlite_where=sa.text("state = 'published'"),
            postgresql_where=sa.text("state = 'published'"),
        )

    op.create_table(
        "image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appliance_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("group_name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appliance_id"],
            ["appliance.id"],
            name=op.f("fk_image_appliance_id_appliance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image")),
        sa.UniqueConstraint("appliance_id", "title", name=op.f("uq_image_appliance_id")),
        sa.UniqueConstraint("uuid", name=op.f("uq_image_uuid")),
    )
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_appliance_id"), ["appliance_id"], unique=False)

    op.create_table(
        "image_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("hypervisors", sa.JSON(), nullable=False),
        sa.Column("arch", sa.String(length=32), nullable=False),
        sa.Column("os_family", sa.String(length=64), nullable=False),
        sa.Column("os_name", sa.String(length=64), nullable=False),
        sa.Column("os_version", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha512", sa.String(length=128), nullable=False),
        sa.Column("image_version", sa.String(length=64), nullable=True),
        sa.Column("cores_min", sa.Integer(), nullable=True),
        sa.Column("cores_rec", sa.Integer(), nullable=True),
        sa.Column("ram_min", sa.Integer(), nullable=True),
        sa.Column("ram_rec", sa.Integer(), nullable=True),
        sa.Column("comments", sa.Text(), nullable=False),
        sa.Column("autocheck", sa.Boolean(), nullable=False),
        sa.Column("integrity_state", sa.String(length=16), nullable=False),
        sa.Column("integrity_message", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
            name=op.f("fk_image_instance_image_id_image"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["appliance_version.id"],
            name=op.f("fk_image_instance_version_id_appliance_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_instance")),
        sa.UniqueConstraint("uuid", name=op.f("uq_image_instance_uuid")),
        sa.UniqueConstraint("version_id", "image_id", name=op.f("uq_image_instance_version_id")),
    )
    with op.batch_alter_table("image_instance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_instance_image_id"), ["image_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_image_instance_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "integrity_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("publish_after", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=True),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["person.id"],
            name=op.f("fk_integrity_job_requested_by_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["appliance_version.id"],
            name=op.f("fk_integrity_job_version_id_appliance_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_job")),
    )
    with op.batch_alter_table("integrity_job", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integrity_job_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "vo_list_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vo_list_id", sa.Integer(), nullable=False),
        sa.Column("appliance_id", sa.Integer(), nullable=False),
        sa.Column("appliance_version_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appliance_id"],
            ["appliance.id"],
            name=op.f("fk_vo_list_entry_appliance_id_appliance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["appliance_version_id"],
            ["appliance_version.id"],
            name=op.f("fk_vo_list_entry_appliance_version_id_appliance_version"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vo_list_id"],
            ["vo_list.id"],
            name=op.f("fk_vo_list_entry_vo_list_id_vo_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vo_list_entry")),
        sa.UniqueConstraint("vo_list_id", "appliance_id", name=op.f("uq_vo_list_entry_vo_list_id")),
    )
    with op.batch_alter_table("vo_list_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vo_list_entry_appliance_id"), ["appliance_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vo_list_entry_appliance_version_id"),
            ["appliance_version_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_vo_list_entry_vo_list_id"), ["vo_list_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("vo_list_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vo_list_entry_vo_list_id"))
        batch_op.drop_index(batch_op.f("ix_vo_list_entry_appliance_version_id"))
        batch_op.drop_index(batch_op.f("ix_vo_list_entry_appliance_id"))

    op.drop_table("vo_list_entry")
    with op.batch_alter_table("integrity_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integrity_job_version_id"))

    op.drop_table("integrity_job")
    with op.batch_alter_table("image_instance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_instance_version_id"))
        batch_op.drop_index(batch_op.f("ix_image_instance_image_id"))

    op.drop_table("image_instance")
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_appliance_id"))

    op.drop_table("image")
    with op.batch_alter_table("appliance_version", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_appliance_version_published",
            sqlite_where=sa.text("state = 'published'"),
            postgresql_where=sa.text("state = 'published'"),
        )
        batch_op.drop_index(batch_op.f("ix_appliance_version_appliance_id"))

    op.drop_table("appliance_version")
    with op.batch_alter_table("appliance_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appliance_member_person_id"))
        batch_op.drop_index(batch_op.f("ix_appliance_member_appliance_id"))

    op.drop_table("appliance_member")
    with op.batch_alter_table("vo_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vo_role_vo_id"))
        batch_op.drop_index(batch_op.f("ix_vo_role_person_id"))

    op.drop_table("vo_role")
    with op.batch_alter_table("vo_list", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_vo_list_published",
            sqlite_where=sa.text("state = 'published'"),
            postgresql_where=sa.text("state = 'published'"),
        )
        batch_op.drop_index(
            "uq_vo_list_draft",
            sqlite_where=sa.text("state = 'draft'"),
            postgresql_where=sa.text("state = 'draft'"),
        )
        batch_op.drop_index(batch_op.f("ix_vo_list_vo_id"))

    op.drop_table("vo_list")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_person_id"))

    op.drop_table("identity")
    with op.batch_alter_table("appliance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appliance_owner_id"))

    op.drop_table("appliance")
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_token_person_id"))

    op.drop_table("access_token")
    op.drop_table("vo")
    with op.batch_alter_table("published_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_published_document_subject_id"))

    op.drop_table("published_document")
    op.drop_table("person")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))

    op.drop_table("audit_event")
