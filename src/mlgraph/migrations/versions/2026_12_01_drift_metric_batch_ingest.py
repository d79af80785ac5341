"""drift metric ingest: one foreign key check per recorded metric, one index less

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 17:10:00

A batch of 1,000 drift metrics checked two foreign keys per row (its deployment, its project:
2,000 lookups, a quarter of the INSERT's time in PostgreSQL) and kept twelve indexes.

* ``fk_drift_metric_deployment_id_deployment`` becomes ``(deployment_id, project_id)`` ->
  ``deployment (id, project_id)`` (on ``uq_deployment_id_project_id``): one check per row,
  which also holds a metric's project to its deployment's, where the two keys held each only
  to its own table. The project's own key goes: its deletion reaches the metrics through the
  deployments (``ON DELETE CASCADE`` both ways), and ``ix_drift_metric_project_id`` stays.
* ``ix_drift_metric_metric`` goes: no filter or order reads it, and alert evaluation reads
  metrics through ``ix_drift_metric_deployment_id_metric_kind_window_end``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEPLOYMENT_KEY = "uq_deployment_id_project_id"
_FK = "fk_drift_metric_deployment_id_deployment"
_PROJECT_FK = "fk_drift_metric_project_id_project"


def upgrade() -> None:
    with op.batch_alter_table("deployment") as batch:
        batch.create_unique_constraint(_DEPLOYMENT_KEY, ["id", "project_id"])
    with op.batch_alter_table("drift_metric") as batch:
        batch.drop_constraint(_PROJECT_FK, type_="foreignkey")
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.create_foreign_key(
            _FK,
            "deployment",
            ["deployment_id", "project_id"],
            ["id", "project_id"],
            ondelete="CASCADE",
        )
        batch.drop_index("ix_drift_metric_metric")


def downgrade() -> None:
    with op.batch_alter_table("drift_metric") as batch:
        batch.create_index("ix_drift_metric_metric", ["metric"])
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.create_foreign_key(_FK, "deployment", ["deployment_id"], ["id"], ondelete="CASCADE")
        batch.create_foreign_key(_PROJECT_FK, "project", ["project_id"], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("deployment") as batch:
        batch.drop_constraint(_DEPLOYMENT_KEY, type_="unique")
