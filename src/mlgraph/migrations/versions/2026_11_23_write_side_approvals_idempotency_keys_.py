"""write side: approvals, idempotency keys, required metrics

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:50:03.287536
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlgraph.storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("principal_id", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "key", name=op.f("pk_idempotency_key")),
    )
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_key_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "model_version_approval",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_model_version_approval_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_version.id"],
            name=op.f("fk_model_version_approval_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_version_approval")),
        sa.UniqueConstraint(
            "version_id", "approver", name=op.f("uq_model_version_approval_version_id_approver")
        ),
    )
    with op.batch_alter_table("model_version_approval", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_version_approval_approver"), ["approver"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_version_approval_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_version_approval_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_version_approval_updated_at"), ["updated_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_version_approval_version_id"), ["version_id"], unique=False
        )

    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "required_metrics",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default=sa.text("'[]'"),  # existing models require no metrics
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.drop_column("required_metrics")

    with op.batch_alter_table("model_version_approval", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_version_approval_version_id"))
        batch_op.drop_index(batch_op.f("ix_model_version_approval_updated_at"))
        batch_op.drop_index(batch_op.f("ix_model_version_approval_project_id"))
        batch_op.drop_index(batch_op.f("ix_model_version_approval_created_at"))
        batch_op.drop_index(batch_op.f("ix_model_version_approval_approver"))

    op.drop_table("model_version_approval")
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_key_created_at"))

    op.drop_table("idempotency_key")
