"""Outbox events as the live stream sees them: plain values, read in position order.

A stream cursor is ``base64url("outbox:<position>")``; ``after: cursor`` replays the events
with a higher position that are still retained.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.errors import BadUserInput
from mlgraph.storage.models import OutboxEvent
from mlgraph.storage.types import utcnow

_CURSOR_PREFIX = "outbox:"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    position: int
    event_id: uuid.UUID
    topic: str
    project_id: uuid.UUID | None
    entity_type: str
    entity_id: uuid.UUID | None
    payload: dict[str, Any]
    created_at: datetime

    @property
    def cursor(self) -> str:
        return encode_stream_cursor(self.position)


def encode_stream_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_stream_cursor(cursor: str, *, field: str = "after") -> int:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        text = raw.decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        position = int(text.removeprefix(_CURSOR_PREFIX))
        if position < 0:
            raise ValueError(cursor)
        return position
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInput(f"{cursor!r} is not a stream cursor", field=field) from None


def _plain(row: OutboxEvent) -> LiveEvent:
    return LiveEvent(
        row.stream_position or 0,
        row.event_id,
        row.topic,
        row.project_id,
        row.entity_type,
        row.entity_id,
        dict(row.payload or {}),
        row.created_at,
    )


async def read_after(
    sessions: async_sessionmaker[AsyncSession],
    position: int,
    *,
    limit: int,
    upto: int | None = None,
    topics: tuple[str, ...] = (),
    project_ids: frozenset[uuid.UUID] | None = None,
) -> list[LiveEvent]:
    """Up to ``limit`` events with ``position < p <= upto``, in position order."""
    stmt = select(OutboxEvent).where(OutboxEvent.stream_position > position)
    if upto is not None:
        stmt = stmt.where(OutboxEvent.stream_position <= upto)
    if topics:
        stmt = stmt.where(OutboxEvent.topic.in_(topics))
    if project_ids is not None:
        stmt = stmt.where(OutboxEvent.project_id.in_(project_ids))
    async with sessions() as s:
        rows = await s.scalars(stmt.order_by(OutboxEvent.stream_position).limit(limit))
        return [_plain(r) for r in rows]


async def last_position(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.max(OutboxEvent.stream_position))) or 0)


async def settled_position(
    sessions: async_sessionmaker[AsyncSession], *, within_s: float = 2.0, poll_s: float = 0.01
) -> int:
    """The stream's end once every event committed so far is in it (the dispatcher, woken by
    each commit, publishes them within milliseconds): where "from now on" starts, so a client
    that subscribes after its mutation returned does not get that mutation's event. After
    ``within_s`` without a dispatcher, the end as it is."""
    async with sessions() as s:
        committed = await s.scalar(select(func.max(OutboxEvent.position)))
        pending = (
            select(OutboxEvent.position)
            .where(OutboxEvent.dispatched_at.is_(None), OutboxEvent.position <= (committed or 0))
            .limit(1)
        )
        # The end and the check in one statement (one snapshot): an end read before the check
        # could predate an event the dispatcher published in between, which the new
        # subscriber would then receive although it was committed before it subscribed.
        end, waiting = (
            await s.execute(
                select(
                    select(func.max(OutboxEvent.stream_position)).scalar_subquery(),
                    pending.exists(),
                )
            )
        ).one()
        if not waiting:  # the usual case: everything committed when asked is in the stream
            return int(end or 0)
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(poll_s)
        async with sessions() as s:
            if await s.scalar(pending) is None:
                break
    return await last_position(sessions)


async def check_retained(sessions: async_sessionmaker[AsyncSession], position: int) -> None:
    """Refuse a cursor past the stream's end (it would silently skip events), or one whose
    events were pruned: its own event is older than every kept one.
    (Pruning removes a prefix of the log, so any cursor at or past the oldest kept event still
    sees everything after it.)"""
    async with sessions() as s:
        oldest, newest = (
            await s.execute(
                select(func.min(OutboxEvent.stream_position), func.max(OutboxEvent.stream_position))
            )
        ).one()
    if position > (newest or 0):
        raise BadUserInput("the cursor is past the end of the stream", field="after")
    if oldest is not None and position < oldest - 1:
        raise BadUserInput(
            "the cursor is older than the event retention; re-read the current state and "
            "subscribe without `after`",
            field="after",
        )


async def prune(sessions: async_sessionmaker[AsyncSession], retention: timedelta) -> int:
    """Delete dispatched events older than ``retention``; the newest event always stays (on
    SQLite positions restart from the highest kept one)."""
    async with sessions() as s, s.begin():
        newest = await s.scalar(select(func.max(OutboxEvent.stream_position)))
        if newest is None:
            return 0
        result = await s.execute(
            delete(OutboxEvent).where(
                OutboxEvent.created_at < utcnow() - retention,
                OutboxEvent.dispatched_at.is_not(None),
                OutboxEvent.stream_position < newest,
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def undispatched(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, datetime | None]:
    """How many committed events wait for the dispatcher, and when the oldest was written
    (both read through the partial index of undispatched events)."""
    waiting = OutboxEvent.dispatched_at.is_(None)
    async with sessions() as s:
        count, oldest = (
            await s.execute(select(func.count(), func.min(OutboxEvent.created_at)).where(waiting))
        ).one()
    return int(count), oldest
