"""writes that scale: stream positions given by the dispatcher, the alert window index

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-01 12:00:00

* ``outbox_event.stream_position`` (unique): the live stream's cursor, given by the dispatcher
  when it publishes an event, so mutations insert events without a lock (``position`` stays
  the order of insertion). Dispatched events keep their position as their stream position, so
  every cursor handed out before stays valid.
* ``ix_drift_metric_deployment_id_metric_kind_window_end``: alert evaluation reads a
  deployment's latest windows of each (metric, kind) its rules watch; with this index each is
  an index range, however long the deployment's history.
* ``ix_drift_metric_deployment_id`` goes: the two composite indexes lead with the column, and
  every recorded metric paid for a third copy of it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STREAM = "ix_outbox_event_stream_position"
WINDOWS = "ix_drift_metric_deployment_id_metric_kind_window_end"


def upgrade() -> None:
    with op.batch_alter_table("outbox_event") as batch:
        batch.add_column(sa.Column("stream_position", sa.BigInteger(), nullable=True))
    op.execute("UPDATE outbox_event SET stream_position = position WHERE dispatched_at IS NOT NULL")
    op.create_index(STREAM, "outbox_event", ["stream_position"], unique=True)
    op.create_index(WINDOWS, "drift_metric", ["deployment_id", "metric", "kind", "window_end"])
    op.drop_index("ix_drift_metric_deployment_id", table_name="drift_metric")


def downgrade() -> None:
    op.drop_index(STREAM, table_name="outbox_event")
    with op.batch_alter_table("outbox_event") as batch:
        batch.drop_column("stream_position")
    op.create_index("ix_drift_metric_deployment_id", "drift_metric", ["deployment_id"])
    op.drop_index(WINDOWS, table_name="drift_metric")
