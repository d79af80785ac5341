"""deletes keep their audit trail; pipeline edges

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00

* ``audit_entry.project_id`` loses its foreign key: the audit entries of a deleted project
  keep its id (the id is hashed into every entry, and names the chain the entry is in), so
  ``deleteProject`` leaves the project's chain whole and verifiable. Before, the key was
  ``ON DELETE SET NULL``, which would have broken every hash of the chain.
* ``pipeline.edges``: the pipeline's dependencies between its nodes, a JSON list of
  ``{"from": node id, "to": node id}`` (a DAG, checked by the mutations); ``[]`` for existing
  pipelines.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_audit_entry_project_id_project"


def upgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")
    with op.batch_alter_table("pipeline") as batch:
        batch.add_column(
            sa.Column(
                "edges",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline") as batch:
        batch.drop_column("edges")
    op.execute(
        "UPDATE audit_entry SET project_id = NULL WHERE project_id NOT IN (SELECT id FROM project)"
    )
    with op.batch_alter_table("audit_entry") as batch:
        batch.create_foreign_key(_FK, "project", ["project_id"], ["id"], ondelete="SET NULL")
