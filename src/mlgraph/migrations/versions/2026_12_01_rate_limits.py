"""rate limits: one token bucket per principal, shared by the replicas

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 11:40:00

* ``rate_limit_bucket``: a principal's bucket as GCRA's theoretical arrival time ``tat``
  (epoch seconds, double precision); replicas reserve points from it in chunks
  (``mlgraph.ratelimit``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_bucket",
        sa.Column("principal_id", sa.String(length=200), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", name=op.f("pk_rate_limit_bucket")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_bucket")
