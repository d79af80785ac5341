"""One unit of work per mutation: rows, audit entries and outbox events in one transaction.

    async with unit_of_work(sessions, actor=..., request_id=...) as tx:
        tx.session.add(row)
        tx.audit("model.register", "Model", row.id, row.project_id, before=None, after={...})
        tx.emit("model.registered", "Model", row.id, row.project_id, {"name": row.name})

Leaving the block commits everything; an exception anywhere rolls all of it back. SQLite
allows one writer at a time, so on SQLite units of work take a per-engine lock for their
whole transaction (no read-then-upgrade deadlocks, no forked audit chain). On PostgreSQL the
audit entries lock only their projects' chain heads (``storage.audit``), so writes to
different projects do not wait for each other; outbox events take no lock (the dispatcher
orders the stream) and are inserted in the audit entries' statement.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mlgraph.storage import audit
from mlgraph.storage.audit import AuditRecord, Rider
from mlgraph.storage.bulk import insert_rows
from mlgraph.storage.graph import entity_for_table
from mlgraph.storage.models import OutboxEvent
from mlgraph.storage.types import utcnow

_SQLITE_WRITE_LOCKS: WeakKeyDictionary[Any, asyncio.Lock] = WeakKeyDictionary()
_COMMIT_CALLBACKS: WeakKeyDictionary[Any, list[Callable[[], None]]] = WeakKeyDictionary()


@dataclass
class UnitOfWork:
    session: AsyncSession
    actor: str
    request_id: str
    #: The caller's W3C ``traceparent``, recorded with each outbox event (webhooks pass it on).
    traceparent: str = ""
    audits: list[AuditRecord] = field(default_factory=list)
    events: list[OutboxEvent] = field(default_factory=list)

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        *,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        reason: str | None = None,
    ) -> None:
        """An audit entry; ``reason``, the why a caller gave, is kept as ``changes.reason``
        (the histories of ``storage.history`` show it)."""
        changes: dict[str, Any] = {"before": before, "after": after}
        if reason:
            changes["reason"] = reason
        self.audits.append(AuditRecord(action, entity_type, entity_id, project_id, changes))

    def record(
        self,
        row: Any,
        action: str,
        topic: str,
        *,
        before: dict[str, Any] | None,
        payload: dict[str, Any],
        reason: str | None = None,
    ) -> None:
        """The usual pair for a changed ``row``: an audit entry (before, and the ``snapshot``
        of the row now) and an outbox event, both about the row's graph type and project."""
        entity_type = entity_for_table(row.__table__.name).name
        project_id = row.id if entity_type == "Project" else row.project_id
        after = snapshot(row)
        self.audit(
            action, entity_type, row.id, project_id, before=before, after=after, reason=reason
        )
        self.emit(topic, entity_type, row.id, project_id, payload)

    def emit(
        self,
        topic: str,
        entity_type: str,
        entity_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        payload: dict[str, Any],
    ) -> None:
        if self.traceparent:
            payload = {**payload, "traceparent": self.traceparent}
        self.events.append(
            OutboxEvent(
                event_id=uuid.uuid4(),
                topic=topic,
                entity_type=entity_type,
                entity_id=entity_id,
                project_id=project_id,
                payload=payload,
                created_at=utcnow(),
            )
        )


def snapshot(row: Any) -> dict[str, Any]:
    """JSON-able values of an entity row for an audit entry's before/after: its declared
    fields (but the time stamps), the keys of its to-one relations and ``audit_extra``."""
    return {name: plain_json(getattr(row, attr)) for name, attr in _audited(row.__table__.name)}


@functools.cache
def _audited(table_name: str) -> tuple[tuple[str, str], ...]:
    """(snapshot key, ORM attribute) pairs of an entity's table."""
    decl = entity_for_table(table_name)
    keys = [r.parent_key for r in decl.relations.values() if r.kind == "one"]
    mapper = sa_inspect(decl.model)
    columns = decl.columns
    return tuple(
        (name, mapper.get_property_by_column(decl.table.c[columns.get(name, name)]).key)
        for name in dict.fromkeys([*decl.audited, *keys, *decl.audit_extra])
    )


def plain_json(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def write_lock(engine: AsyncEngine) -> AbstractAsyncContextManager[Any]:
    """The per-engine lock SQLite writers share (a no-op on PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    lock = _SQLITE_WRITE_LOCKS.get(engine.sync_engine)
    if lock is None:
        lock = _SQLITE_WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
    return lock


_OUTBOX_COLUMNS = (
    "event_id",
    "topic",
    "entity_type",
    "entity_id",
    "project_id",
    "payload",
    "created_at",
)


def outbox_insert(session: AsyncSession, events: list[OutboxEvent]) -> Rider:
    """The INSERT of ``events`` (one statement) and its parameters. No lock: their stream
    positions are given when the dispatcher publishes them (``live.dispatcher``)."""
    rows = [{c: getattr(e, c) for c in _OUTBOX_COLUMNS} for e in events]
    postgresql = session.get_bind().dialect.name == "postgresql"
    return insert_rows(OutboxEvent, rows, postgresql=postgresql, prefix="outbox")


def on_outbox_commit(engine: AsyncEngine, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after each unit of work on ``engine`` that committed outbox events
    (the live dispatcher's wake-up). Returns a function that removes it."""
    callbacks = _COMMIT_CALLBACKS.setdefault(engine.sync_engine, [])
    callbacks.append(callback)
    return lambda: callbacks.remove(callback)


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession],
    *,
    actor: str,
    request_id: str,
    traceparent: str = "",
) -> AsyncIterator[UnitOfWork]:
    engine = sessions.kw["bind"]
    async with write_lock(engine), sessions() as session, session.begin():
        tx = UnitOfWork(session, actor, request_id, traceparent)
        yield tx
        await session.flush()
        riders = [outbox_insert(session, tx.events)] if tx.events else []
        await audit.append(session, tx.audits, actor=actor, request_id=request_id, riders=riders)
    if tx.events:
        for callback in list(_COMMIT_CALLBACKS.get(engine.sync_engine, ())):
            callback()
