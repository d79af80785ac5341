"""The audit chains: append-only entries, each ``sha256(previous hash + canonical entry)``.

There is one chain per project (``chain_id`` = the project's id) and one for entries without a
project (:data:`PLATFORM_CHAIN`). Each chain's last link is its row in ``audit_head``; an append
locks the heads it extends (``FOR UPDATE``, in chain order, in the caller's transaction), so
appends to one chain are serialized and cannot fork it, while appends to different projects do
not wait for each other. On SQLite the unit of work's write lock serializes every writer anyway.

Entries written before the per-project chains (migration ``0007``) stay as they were, as the
frozen :data:`LEGACY_CHAIN` (the old global chain, positions 1..n); every newer chain starts
from its last hash, so rewriting the old entries breaks every chain after them too.

``verify`` recomputes every chain and compares each with its head, and names the first entry
(in global ``seq`` order) that breaks one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Update, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.storage.bulk import insert_rows
from mlgraph.storage.models import AuditEntry, AuditHead
from mlgraph.storage.types import utcnow

GENESIS_HASH = "0" * 64
#: The global chain of the entries written before the per-project chains (frozen; the
#: smallest id, so it is verified first).
LEGACY_CHAIN = uuid.UUID(int=0)
#: The chain of entries without a project (platform-level changes).
PLATFORM_CHAIN = uuid.UUID(int=1)


def chain_of(project_id: uuid.UUID | None) -> uuid.UUID:
    return PLATFORM_CHAIN if project_id is None else project_id


def audit_hash(prev_hash: str, entry_fields: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical JSON of the entry)``: one link of an audit chain.

    ``entry_fields`` holds seq (the position in the chain), actor, action, entity_type,
    entity_id, project_id, changes, request_id and created_at (ids as UUID or str,
    ``created_at`` as an aware datetime).
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


#: Another INSERT to run with the entries, and its parameters (``bulk.insert_rows``).
Rider = tuple[Insert, Mapping[str, Any]]


async def append(
    session: AsyncSession,
    records: Sequence[AuditRecord],
    *,
    actor: str,
    request_id: str,
    riders: Sequence[Rider] = (),
) -> int:
    """Append ``records`` to their projects' chains inside the caller's transaction, and run
    ``riders`` (the outbox events) with them."""
    return await append_entries(
        session,
        [
            {
                "actor": actor,
                "action": r.action,
                "entity_type": r.entity_type,
                "entity_id": r.entity_id,
                "project_id": r.project_id,
                "changes": r.changes,
                "request_id": request_id,
                "created_at": utcnow(),
            }
            for r in records
        ],
        riders,
    )


async def append_entries(
    session: AsyncSession, entries: Sequence[Mapping[str, Any]], riders: Sequence[Rider] = ()
) -> int:
    """The one serializer: link ``entries`` (in the given order) to their chains' heads, under
    the heads' locks. Each mapping holds what :func:`audit_hash` reads but ``seq`` (and may
    name the entry's ``id``). Returns how many. On PostgreSQL, for one chain whose head exists,
    two statements whatever the count: lock the head, then insert the entries, run the
    ``riders`` (other INSERTs, e.g. the outbox events) and move the head in one (each further
    chain adds its head's move). Elsewhere, or without entries, the riders run on their own."""
    if not entries:
        for rider, params in riders:
            await session.execute(rider, params)
        return 0
    heads = await _lock_heads(session, sorted({chain_of(e["project_id"]) for e in entries}))
    next_seq = None if _is_postgres(session) else await _max_seq(session) + 1
    rows = []
    for entry in entries:
        chain = chain_of(entry["project_id"])
        position, prev = heads[chain]
        fields = {k: v for k, v in entry.items() if k != "id"}
        fields["changes"] = _jsonable(entry["changes"])
        digest = audit_hash(prev, {**fields, "seq": position + 1})
        heads[chain] = (position + 1, digest)
        row = {
            **fields,
            "id": entry.get("id") or uuid.uuid4(),
            "chain_id": chain,
            "chain_seq": position + 1,
            "updated_at": fields["created_at"],
            "prev_hash": prev,
            "hash": digest,
        }
        if next_seq is not None:  # SQLite: no sequences, one writer at a time
            row["seq"], next_seq = next_seq, next_seq + 1
        rows.append(row)
    postgresql = _is_postgres(session)
    appended, params = insert_rows(AuditEntry, rows, postgresql=postgresql, prefix="audit")
    moves = [
        {"head": chain, "head_seq": n, "head_hash": digest} for chain, (n, digest) in heads.items()
    ]
    if postgresql:  # the INSERTs ride along with the first head's UPDATE
        inserts = (appended, *(rider for rider, _ in riders))
        for _, more in riders:
            params = {**params, **more}
        await session.execute(_move_head_after(inserts), {**params, **moves.pop(0)})
    else:
        await session.execute(appended)
        for rider, more in riders:
            await session.execute(rider, more)
    for move in moves:
        await session.execute(_MOVE_HEAD, move)
    return len(rows)


_HEADS: Any = AuditHead.__table__
_MOVE_HEAD = (  # Core, on the table: with a parameter mapping the ORM would bulk-update by key
    update(_HEADS)
    .where(_HEADS.c.chain_id == bindparam("head"))
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)


@functools.cache
def _move_head_after(inserts: tuple[Insert, ...]) -> Update:
    """The head's UPDATE with ``inserts`` as CTEs (each runs once, whatever its rows)."""
    return _MOVE_HEAD.add_cte(*(x.cte(f"insert_{n}") for n, x in enumerate(inserts)))


#: The heads of ``:chains``, locked in chain order (a Core statement, built once).
_LOCK_HEADS = (
    select(_HEADS.c.chain_id, _HEADS.c.seq, _HEADS.c.hash)
    .where(_HEADS.c.chain_id.in_(bindparam("chains", expanding=True)))
    .order_by(_HEADS.c.chain_id)
    .with_for_update()
)


async def _lock_heads(
    session: AsyncSession, chains: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, str]]:
    """(position, hash) of each chain's head, locked until the transaction ends; a head that
    does not exist yet is created at position 0 on the legacy chain's last hash."""
    found = await session.execute(_LOCK_HEADS, {"chains": chains})
    heads = {row.chain_id: (row.seq, row.hash) for row in found}
    missing = [c for c in chains if c not in heads]
    if missing:
        start = await genesis(session)
        dialect_insert = postgresql.insert if _is_postgres(session) else sqlite.insert
        await session.execute(
            dialect_insert(AuditHead)
            .values([{"chain_id": c, "seq": 0, "hash": start} for c in missing])
            .on_conflict_do_nothing()
        )
        again = await session.execute(_LOCK_HEADS, {"chains": missing})
        heads.update({row.chain_id: (row.seq, row.hash) for row in again})
    return heads


async def genesis(session: AsyncSession) -> str:
    """The hash a new chain starts from: the legacy chain's last, or all zeros."""
    legacy = select(AuditHead.hash).where(AuditHead.chain_id == LEGACY_CHAIN)
    return await session.scalar(legacy) or GENESIS_HASH


async def _max_seq(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(AuditEntry.seq))) or 0)


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_seq: int | None = None
    broken_id: uuid.UUID | None = None
    reason: str = ""


@dataclass
class _Break:
    seq: int | None  # global seq of the entry named (None: a head with no entry to name)
    entry_id: uuid.UUID | None
    reason: str

    @property
    def order(self) -> int:
        return self.seq if self.seq is not None else 2**63


async def verify(session: AsyncSession, *, batch: int = 1000) -> ChainReport:
    """Recompute every chain in position order and compare it with its head; report the first
    entry (by ``seq``) that breaks a chain. ``checked`` counts the entries before it that hold.

    Given a session with no transaction yet, it reads the heads and the entries in one
    snapshot: read one after the other while others write (the simulator of ``make run``), a
    head could be newer than the entries read, and the chain seemed broken ("ends at 80, its
    head at position 79")."""
    if not session.in_transaction():
        if session.get_bind().dialect.name == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        else:  # the driver begins no transaction for reads; in WAL mode one is a snapshot
            await session.execute(text("BEGIN"))
    heads = {h.chain_id: (h.seq, h.hash) for h in await session.scalars(select(AuditHead))}
    breaks: list[_Break] = []
    good = array("q")
    stream = await session.stream_scalars(
        select(AuditEntry)
        .order_by(AuditEntry.chain_id, AuditEntry.chain_seq)
        .execution_options(yield_per=batch)
    )
    legacy_head = heads.get(LEGACY_CHAIN)
    start = GENESIS_HASH
    chain: uuid.UUID | None = None
    prev, position, broken = start, 0, False
    async for entry in stream:
        if entry.chain_id != chain:
            if chain is not None:
                _check_head(chain, position, prev, heads, broken, breaks)
            if chain == LEGACY_CHAIN:  # every newer chain starts from its last hash
                start = legacy_head[1] if broken and legacy_head else prev
            chain, prev, position, broken = entry.chain_id, start, 0, False
        if broken:
            continue
        reason = _link_error(entry, prev, position + 1)
        if reason:
            breaks.append(_Break(entry.seq, entry.id, reason))
            broken = True
            continue
        good.append(entry.seq)
        prev, position = entry.hash, position + 1
    if chain is not None:
        _check_head(chain, position, prev, heads, broken, breaks)
    for orphan in heads:  # heads whose chain has no entry at all
        breaks.append(_Break(None, None, f"chain {orphan} has a head but no entries"))
    if not breaks:
        return ChainReport(True, len(good))
    first = min(breaks, key=lambda b: b.order)
    checked = sum(1 for s in good if s < first.order)
    return ChainReport(False, checked, first.seq, first.entry_id, first.reason)


def _link_error(entry: AuditEntry, prev: str, position: int) -> str:
    if entry.chain_id not in (LEGACY_CHAIN, chain_of(entry.project_id)):
        return "entry is not in its project's chain"
    if entry.chain_seq != position:
        return f"sequence gap: expected {position}, found {entry.chain_seq}"
    if entry.prev_hash != prev:
        return "prev_hash does not match the previous entry's hash"
    if audit_hash(prev, _fields(entry)) != entry.hash:
        return "hash does not match the entry's content"
    return ""


def _check_head(
    chain: uuid.UUID,
    position: int,
    last_hash: str,
    heads: dict[uuid.UUID, tuple[int, str]],
    broken: bool,
    breaks: list[_Break],
) -> None:
    """A verified chain must end where its head says (entries removed from its end)."""
    head = heads.pop(chain, None)
    if broken or (chain == LEGACY_CHAIN and head is None):
        return
    if head != (position, last_hash):
        found = "no head" if head is None else f"its head at position {head[0]}"
        breaks.append(_Break(None, None, f"chain {chain} ends at {position}, {found}"))


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.chain_seq,
        "actor": entry.actor,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "project_id": entry.project_id,
        "changes": entry.changes,
        "request_id": entry.request_id,
        "created_at": entry.created_at,
    }
