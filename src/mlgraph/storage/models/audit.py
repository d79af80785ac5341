from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Index, Sequence, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Base, Entity
from mlgraph.storage.types import JSONDoc

#: Global order of audit entries on PostgreSQL (``nextval``, so appenders to different chains
#: never wait for one another; SQLite, one writer at a time, numbers them max + 1).
AUDIT_SEQ = Sequence("audit_entry_seq")


class AuditEntry(Entity):
    """Append-only, hash-chained record of one mutation (``hash = sha256(prev_hash + entry)``).

    Entries form one chain per project (``chain_id`` = the project's id; entries without a
    project form the platform chain, entries written before the per-project chains the legacy
    chain); ``chain_seq`` is the gapless position in it, ``seq`` the global order.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("chain_id", "chain_seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, AUDIT_SEQ, unique=True)
    chain_id: Mapped[uuid.UUID]
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    #: No foreign key: the entries of a deleted project keep its id (it is in every hash).
    project_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    entity_type: Mapped[str] = mapped_column(String(64), index=True)
    entity_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last link of one audit chain: appenders lock it ``FOR UPDATE``, so appends to one
    chain are serialized and appends to different chains are not."""

    __tablename__ = "audit_head"

    chain_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


Index(
    "ix_audit_entry_project_id_created_at_id",
    AuditEntry.project_id,
    AuditEntry.created_at,
    AuditEntry.id,
)
