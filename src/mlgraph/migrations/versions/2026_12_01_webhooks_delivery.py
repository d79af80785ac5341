"""webhooks: formats, encrypted and rotating secrets, delivery attempts, the fan-out cursor

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:44:08

* ``webhook``: ``format``, ``previous_secret`` (+ until when it signs), ``disabled_reason``,
  ``consecutive_failures``; ``secret`` now holds a Fernet token (longer).
* ``webhook_delivery``: the fixed ``payload``, ``traceparent``, the last attempt's
  ``duration_ms`` / ``response_body``, ``attempt_base``; one row per (event, webhook).
* ``webhook_delivery_attempt``: one row per HTTP attempt.
* ``webhook_cursor``: how far the fan-out has read the outbox; starts at the outbox's end, so
  events from before this migration are not sent.
* Data: the event-type vocabulary replaces the outbox topic ``deployment.updated`` with
  ``deployment.*``; secrets stored in plain text before encryption existed cannot be kept (the
  database alone must not reveal them): they are emptied and their endpoints disabled until a
  ``rotateWebhookSecret``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlgraph.storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = mlgraph.storage.types.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
LEGACY_TOPICS = {"deployment.updated": "deployment.*"}


def upgrade() -> None:
    op.create_table(
        "webhook_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_cursor")),
    )
    op.create_table(
        "webhook_delivery_attempt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
            name=op.f("fk_webhook_delivery_attempt_delivery_id_webhook_delivery"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_webhook_delivery_attempt_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery_attempt")),
    )
    with op.batch_alter_table("webhook_delivery_attempt") as b:
        for column in ("created_at", "delivery_id", "project_id", "updated_at"):
            b.create_index(b.f(f"ix_webhook_delivery_attempt_{column}"), [column], unique=False)

    fmt = sa.Enum("STANDARD", "SLACK", name="webhookformat", native_enum=False, length=32)
    with op.batch_alter_table("webhook") as b:
        b.add_column(sa.Column("format", fmt, nullable=False, server_default="STANDARD"))
        b.add_column(sa.Column("previous_secret", sa.String(400), nullable=True))
        b.add_column(sa.Column("previous_secret_expires_at", UTC, nullable=True))
        b.add_column(sa.Column("disabled_reason", sa.Text(), nullable=False, server_default=""))
        b.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        b.alter_column(
            "secret", existing_type=sa.String(200), type_=sa.String(400), existing_nullable=False
        )
    with op.batch_alter_table("webhook_delivery") as b:
        b.add_column(sa.Column("attempt_base", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("duration_ms", sa.Integer(), nullable=True))
        b.add_column(sa.Column("response_body", sa.Text(), nullable=False, server_default=""))
        b.add_column(sa.Column("payload", JSON, nullable=False, server_default="{}"))
        b.add_column(sa.Column("traceparent", sa.String(64), nullable=False, server_default=""))
        b.create_unique_constraint(
            b.f("uq_webhook_delivery_event_id_webhook_id"), ["event_id", "webhook_id"]
        )
    _migrate_rows()


def _migrate_rows() -> None:
    bind = op.get_bind()
    end = bind.execute(sa.text("SELECT COALESCE(MAX(position), 0) FROM outbox_event")).scalar()
    bind.execute(sa.text("INSERT INTO webhook_cursor (id, position) VALUES (1, :p)"), {"p": end})
    hook = sa.table(
        "webhook",
        sa.column("id", sa.Uuid()),
        sa.column("event_types", JSON),
        sa.column("secret", sa.String()),
        sa.column("enabled", sa.Boolean()),
        sa.column("disabled_reason", sa.Text()),
    )
    for row in bind.execute(sa.select(hook.c.id, hook.c.event_types, hook.c.secret)).all():
        types = list(dict.fromkeys(LEGACY_TOPICS.get(t, t) for t in row.event_types or []))
        values: dict[str, object] = {"event_types": types}
        if row.secret.startswith("whsec_") or not row.secret:
            values.update(
                secret="",
                enabled=False,
                disabled_reason="its secret predates encryption: rotate it, then enable it",
            )
        bind.execute(sa.update(hook).where(hook.c.id == row.id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery") as b:
        b.drop_constraint(b.f("uq_webhook_delivery_event_id_webhook_id"), type_="unique")
        for column in ("traceparent", "payload", "response_body", "duration_ms", "attempt_base"):
            b.drop_column(column)
    with op.batch_alter_table("webhook") as b:
        b.alter_column(
            "secret", existing_type=sa.String(400), type_=sa.String(200), existing_nullable=False
        )
        for column in (
            "consecutive_failures",
            "disabled_reason",
            "previous_secret_expires_at",
            "previous_secret",
            "format",
        ):
            b.drop_column(column)
    op.drop_table("webhook_delivery_attempt")
    op.drop_table("webhook_cursor")
