from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Base
from mlgraph.storage.types import UTCDateTime, utcnow


class IdempotencyKey(Base):
    """The first result of a create mutation under a client's key (kept 24 hours)."""

    __tablename__ = "idempotency_key"

    principal_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
