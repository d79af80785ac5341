from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Base, Entity
from mlgraph.storage.enums import DeliveryStatus, WebhookFormat
from mlgraph.storage.models._columns import enum_column, project_fk
from mlgraph.storage.types import JSONDoc, UTCDateTime


class Webhook(Entity):
    """An endpoint. ``secret`` and ``previous_secret`` hold Fernet tokens (the signing secrets
    encrypted under a key from the settings), never the secrets themselves."""

    __tablename__ = "webhook"

    project_id: Mapped[uuid.UUID] = project_fk()
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(Text, default="")
    event_types: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    format: Mapped[WebhookFormat] = mapped_column(
        enum_column(WebhookFormat), default=WebhookFormat.STANDARD
    )
    secret: Mapped[str] = mapped_column(String(400))
    previous_secret: Mapped[str | None] = mapped_column(String(400))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(default=True, index=True)
    disabled_reason: Mapped[str] = mapped_column(Text, default="")
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


class WebhookDelivery(Entity):
    """One event for one endpoint. ``payload`` is the body's ``{type, timestamp, data}``, fixed
    at fan-out so every attempt (and a redelivery) sends the same message. While an attempt is
    in flight ``next_attempt_at`` is its lease: another worker takes the row only after it."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("event_id", "webhook_id"),)

    project_id: Mapped[uuid.UUID] = project_fk()
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus), index=True)
    attempt: Mapped[int] = mapped_column(default=0)
    #: ``attempt`` when the delivery was last (re)queued: the retry schedule counts from it.
    attempt_base: Mapped[int] = mapped_column(default=0)
    response_status: Mapped[int | None]
    duration_ms: Mapped[int | None]
    response_body: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    traceparent: Mapped[str] = mapped_column(String(64), default="")


class WebhookDeliveryAttempt(Entity):
    """One HTTP request of a delivery and what came back."""

    __tablename__ = "webhook_delivery_attempt"

    project_id: Mapped[uuid.UUID] = project_fk()
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    succeeded: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    error: Mapped[str] = mapped_column(Text, default="")
    response_body: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookCursor(Base):
    """How far the webhook fan-out has read the outbox (one row, ``id`` 1)."""

    __tablename__ = "webhook_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))


Index(
    "ix_webhook_delivery_webhook_id_created_at_id",
    WebhookDelivery.webhook_id,
    WebhookDelivery.created_at,
    WebhookDelivery.id,
)
