"""The audit chain: append-only entries, each ``sha256(previous hash + canonical entry)``.

Appends are serialized (a transaction-scoped advisory lock on PostgreSQL, the unit of work's
write lock on SQLite) so concurrent mutations cannot fork the chain; ``seq`` is unique as a
last line of defence. ``verify`` recomputes the chain and names the first entry that breaks it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.storage.models import AuditEntry
from mlgraph.storage.types import utcnow

GENESIS_HASH = "0" * 64
#: pg_advisory_xact_lock key for appends ("mlgraph audit" as a number).
_LOCK_KEY = 0x6D6C_6175_6469_74


def audit_hash(prev_hash: str, entry_fields: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical JSON of the entry)``: one link of the audit chain.

    ``entry_fields`` holds seq, actor, action, entity_type, entity_id, project_id, changes,
    request_id and created_at (ids as UUID or str, ``created_at`` as an aware datetime).
    """

    def text_or_none(value: Any) -> str | None:
        return None if value is None else str(value)

    created_at: datetime = entry_fields["created_at"]
    canonical = json.dumps(
        {
            "seq": entry_fields["seq"],
            "actor": entry_fields["actor"],
            "action": entry_fields["action"],
            "entity_type": entry_fields["entity_type"],
            "entity_id": text_or_none(entry_fields["entity_id"]),
            "project_id": text_or_none(entry_fields["project_id"]),
            "changes": entry_fields["changes"],
            "request_id": entry_fields["request_id"],
            "created_at": created_at.isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """What a mutation wants recorded; seq, hashes and time are assigned at append."""

    action: str
    entity_type: str
    entity_id: uuid.UUID | None
    project_id: uuid.UUID | None
    changes: dict[str, Any]


def _jsonable(value: Any) -> Any:
    """The JSON the database hands back for ``value`` (so hashes recompute after a read)."""
    return json.loads(json.dumps(value, default=str))


async def append(
    session: AsyncSession, records: Sequence[AuditRecord], *, actor: str, request_id: str
) -> list[AuditEntry]:
    """Append ``records`` to the chain inside the caller's transaction."""
    if not records:
        return []
    await serialize(session)
    last = (
        await session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        )
    ).first()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS_HASH)
    entries = []
    for record in records:
        seq += 1
        fields = {
            "seq": seq,
            "actor": actor,
            "action": record.action,
            "entity_type": record.entity_type,
            "entity_id": record.entity_id,
            "project_id": record.project_id,
            "changes": _jsonable(record.changes),
            "request_id": request_id,
            "created_at": utcnow(),
        }
        digest = audit_hash(prev, fields)
        entries.append(
            AuditEntry(**fields, updated_at=fields["created_at"], prev_hash=prev, hash=digest)
        )
        prev = digest
    session.add_all(entries)
    await session.flush()
    return entries


async def serialize(session: AsyncSession) -> None:
    """Hold the appenders' lock until the transaction ends (PostgreSQL; SQLite's unit of work
    already holds its write lock). Outbox rows inserted under it get positions in commit order."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_seq: int | None = None
    broken_id: uuid.UUID | None = None
    reason: str = ""


async def verify(session: AsyncSession, *, batch: int = 1000) -> ChainReport:
    """Recompute every link in seq order; report the first entry that does not match."""
    prev, expected_seq, checked = GENESIS_HASH, 1, 0
    stream = await session.stream_scalars(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    )
    async for entry in stream:
        reason = ""
        if entry.seq != expected_seq:
            reason = f"sequence gap: expected {expected_seq}, found {entry.seq}"
        elif entry.prev_hash != prev:
            reason = "prev_hash does not match the previous entry's hash"
        elif audit_hash(prev, _fields(entry)) != entry.hash:
            reason = "hash does not match the entry's content"
        if reason:
            return ChainReport(False, checked, entry.seq, entry.id, reason)
        prev, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    return ChainReport(True, checked)


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "actor": entry.actor,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "project_id": entry.project_id,
        "changes": entry.changes,
        "request_id": entry.request_id,
        "created_at": entry.created_at,
    }
