from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Entity
from mlgraph.storage.enums import DeliveryStatus
from mlgraph.storage.models._columns import enum_column, project_fk
from mlgraph.storage.types import JSONDoc, UTCDateTime


class Webhook(Entity):
    __tablename__ = "webhook"

    project_id: Mapped[uuid.UUID] = project_fk()
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(Text, default="")
    event_types: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    secret: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=True, index=True)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


class WebhookDelivery(Entity):
    __tablename__ = "webhook_delivery"

    project_id: Mapped[uuid.UUID] = project_fk()
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus), index=True)
    attempt: Mapped[int] = mapped_column(default=0)
    response_status: Mapped[int | None]
    error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index(
    "ix_webhook_delivery_webhook_id_created_at_id",
    WebhookDelivery.webhook_id,
    WebhookDelivery.created_at,
    WebhookDelivery.id,
)
