from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Base
from mlgraph.storage.types import JSONDoc, UTCDateTime, utcnow


class OutboxEvent(Base):
    """An event written in the same transaction as the change that caused it.

    ``position`` is the order of insertion. ``stream_position`` is the live stream's cursor,
    given by the dispatcher (with ``dispatched_at``) in the order it publishes: positions are
    drawn when rows are inserted, so they need not follow commit order, while each dispatched
    batch commits after the one before it.
    """

    __tablename__ = "outbox_event"

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str] = mapped_column(String(100), index=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    stream_position: Mapped[int | None] = mapped_column(BigInteger)


Index("ix_outbox_event_stream_position", OutboxEvent.stream_position, unique=True)
Index(
    "ix_outbox_event_undispatched",
    OutboxEvent.position,
    postgresql_where=OutboxEvent.dispatched_at.is_(None),
    sqlite_where=OutboxEvent.dispatched_at.is_(None),
)
