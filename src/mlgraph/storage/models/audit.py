from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Entity
from mlgraph.storage.types import JSONDoc


class AuditEntry(Entity):
    """Append-only, hash-chained record of one mutation (``hash = sha256(prev_hash + entry)``)."""

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    entity_type: Mapped[str] = mapped_column(String(64), index=True)
    entity_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


Index(
    "ix_audit_entry_project_id_created_at_id",
    AuditEntry.project_id,
    AuditEntry.created_at,
    AuditEntry.id,
)
