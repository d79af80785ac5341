"""rollouts and monitoring: rollout plans, the alert rules' `for`, scheduled downtime

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-01 13:53:41

* ``rollout``: a deployment's progressive rollout (steps, interval, gates, the step applied
  last and when the next is due); the scheduler (``mlgraph.rollouts``) advances it.
* ``alert_rule.for_seconds`` and ``alert.active_since``: an alert is PENDING until its breach
  has held ``for_seconds``.
* ``downtime``: no alert fires in its scope (project, deployment, rule) between its times.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlgraph.storage.types

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "downtime",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=True),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_downtime_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_downtime_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rule.id"],
            name=op.f("fk_downtime_rule_id_alert_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downtime")),
    )
    op.create_index(op.f("ix_downtime_created_at"), "downtime", ["created_at"], unique=False)
    op.create_index(op.f("ix_downtime_deployment_id"), "downtime", ["deployment_id"], unique=False)
    op.create_index(op.f("ix_downtime_ends_at"), "downtime", ["ends_at"], unique=False)
    op.create_index(op.f("ix_downtime_starts_at"), "downtime", ["starts_at"], unique=False)
    op.create_index(op.f("ix_downtime_project_id"), "downtime", ["project_id"], unique=False)
    op.create_index(op.f("ix_downtime_rule_id"), "downtime", ["rule_id"], unique=False)
    op.create_index(op.f("ix_downtime_updated_at"), "downtime", ["updated_at"], unique=False)
    op.create_table(
        "rollout",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("canary_version_id", sa.Uuid(), nullable=False),
        sa.Column("baseline_version_id", sa.Uuid(), nullable=False),
        sa.Column(
            "steps",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "gate_severity",
            sa.Enum("INFO", "WARNING", "CRITICAL", name="severity", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column(
            "gate_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "RUNNING",
                "PAUSED",
                "SUCCEEDED",
                "ROLLED_BACK",
                "ABORTED",
                name="rolloutstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("canary_percent", sa.Double(), nullable=False),
        sa.Column(
            "step_started_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("next_step_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["baseline_version_id"],
            ["model_version.id"],
            name=op.f("fk_rollout_baseline_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["canary_version_id"],
            ["model_version.id"],
            name=op.f("fk_rollout_canary_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_rollout_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_rollout_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout")),
    )
    op.create_index(
        op.f("ix_rollout_baseline_version_id"), "rollout", ["baseline_version_id"], unique=False
    )
    op.create_index(
        op.f("ix_rollout_canary_version_id"), "rollout", ["canary_version_id"], unique=False
    )
    op.create_index(op.f("ix_rollout_created_at"), "rollout", ["created_at"], unique=False)
    op.create_index(op.f("ix_rollout_deployment_id"), "rollout", ["deployment_id"], unique=False)
    op.create_index(op.f("ix_rollout_next_step_at"), "rollout", ["next_step_at"], unique=False)
    op.create_index(op.f("ix_rollout_project_id"), "rollout", ["project_id"], unique=False)
    op.create_index(op.f("ix_rollout_status"), "rollout", ["status"], unique=False)
    op.create_index(op.f("ix_rollout_updated_at"), "rollout", ["updated_at"], unique=False)
    op.add_column(
        "alert",
        sa.Column("active_since", mlgraph.storage.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "alert_rule", sa.Column("for_seconds", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("alert_rule", "for_seconds")
    op.drop_column("alert", "active_since")
    op.drop_index(op.f("ix_rollout_updated_at"), table_name="rollout")
    op.drop_index(op.f("ix_rollout_status"), table_name="rollout")
    op.drop_index(op.f("ix_rollout_project_id"), table_name="rollout")
    op.drop_index(op.f("ix_rollout_next_step_at"), table_name="rollout")
    op.drop_index(op.f("ix_rollout_deployment_id"), table_name="rollout")
    op.drop_index(op.f("ix_rollout_created_at"), table_name="rollout")
    op.drop_index(op.f("ix_rollout_canary_version_id"), table_name="rollout")
    op.drop_index(op.f("ix_rollout_baseline_version_id"), table_name="rollout")
    op.drop_table("rollout")
    op.drop_index(op.f("ix_downtime_updated_at"), table_name="downtime")
    op.drop_index(op.f("ix_downtime_rule_id"), table_name="downtime")
    op.drop_index(op.f("ix_downtime_project_id"), table_name="downtime")
    op.drop_index(op.f("ix_downtime_ends_at"), table_name="downtime")
    op.drop_index(op.f("ix_downtime_starts_at"), table_name="downtime")
    op.drop_index(op.f("ix_downtime_deployment_id"), table_name="downtime")
    op.drop_index(op.f("ix_downtime_created_at"), table_name="downtime")
    op.drop_table("downtime")
