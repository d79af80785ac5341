"""api keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:32:23.076177
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mlgraph.storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum("VIEWER", "EDITOR", "ADMIN", name="role", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("expires_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_api_key_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_key_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_key_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_key_revoked_at"), ["revoked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_key_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_updated_at"))
        batch_op.drop_index(batch_op.f("ix_api_key_revoked_at"))
        batch_op.drop_index(batch_op.f("ix_api_key_project_id"))
        batch_op.drop_index(batch_op.f("ix_api_key_expires_at"))
        batch_op.drop_index(batch_op.f("ix_api_key_created_at"))

    op.drop_table("api_key")
