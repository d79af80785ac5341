"""read audit: every issued artifact download URL

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 14:10:00

* ``artifact_download``: one row per download URL handed out (``Artifact.downloadUrl``), with
  the actor, the client address, the request and when the URL expires; no foreign keys, so the
  records outlive the artifact and the project, as audit entries do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mlgraph.storage.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "artifact_download"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("artifact_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact_download")),
    )
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        for column in ("actor", "artifact_id", "created_at", "project_id", "updated_at"):
            batch_op.create_index(batch_op.f(f"ix_{_TABLE}_{column}"), [column], unique=False)
        for key in ("project_id", "artifact_id"):
            batch_op.create_index(
                f"ix_{_TABLE}_{key}_created_at_id", [key, "created_at", "id"], unique=False
            )


def downgrade() -> None:
    op.drop_table(_TABLE)
