"""The outbox dispatcher: give committed events their stream positions, publish them.

Each round takes the stream lock (an advisory transaction lock on PostgreSQL, held until the
round commits, so the dispatchers of several replicas take turns; SQLite's write lock), takes
the oldest undispatched events, numbers them after the stream's end (``stream_position``, in
insertion order), sets ``dispatched_at`` and publishes one envelope through the broker in the
same transaction, then tells local listeners. Rounds commit one after another, so the stream
grows in commit order while mutations insert their events without waiting for anyone: an
event whose transaction commits late simply comes in a later round.
A crash before the commit leaves the rows undispatched, so the next round (here or on another
replica, or after a restart) publishes them again: at least once, event ids unchanged.

A batch that publishes events is a span (``outbox dispatch``, with its event count) holding its
UPDATE and the publish; empty rounds make none.

It runs on every local commit that wrote events (``on_outbox_commit``) and every
``poll_interval_s`` (events of a replica that died before dispatching them), and prunes events
older than the retention now and then. A round that follows a round that published within
``GATHER_S`` waits for the rest of that time, so under load one round takes the commits of
``GATHER_S`` (each commit woke a round of its own, and every hub read after each), while a
commit after a quiet spell is published at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, literal, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.live.brokers import Broker, Envelope
from mlgraph.live.events import prune
from mlgraph.live.tasks import stop_task
from mlgraph.storage.models import OutboxEvent
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import write_lock
from mlgraph.telemetry.tracing import span

log = logging.getLogger("mlgraph.live")
PRUNE_EVERY_S = 600.0
#: The least time between the starts of two rounds when the first published something (an
#: event's latency grows by at most as much, and only under load).
GATHER_S = 0.02
#: pg_advisory_xact_lock key of a dispatch round ("mlgraph outbox" as a number).
STREAM_LOCK_KEY = literal(0x6D6C_6F75_7462_6F78, BigInteger)
#: Core statements on the table (an ORM ``update(OutboxEvent)`` also synchronises the session).
_OUTBOX: Any = OutboxEvent.__table__
_STREAM_LOCK = select(func.pg_advisory_xact_lock(STREAM_LOCK_KEY))
#: A batch's stream positions and dispatch time, built once (the IN list of positions is
#: expanded at each execution).
_MARK = (
    update(_OUTBOX)
    .where(_OUTBOX.c.position.in_(bindparam("positions", expanding=True)))
    .values(
        stream_position=_OUTBOX.c.position + bindparam("offset", type_=BigInteger),
        dispatched_at=bindparam("now", type_=_OUTBOX.c.dispatched_at.type),
    )
)


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: Broker,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._sessions = sessions
        self._engine = sessions.kw["bind"]
        self._broker = broker
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._retention = retention
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0
        self.listeners: list[Callable[[Envelope], None]] = []
        self.dispatched = 0
        self._pending = (
            select(
                _OUTBOX.c.position,
                _OUTBOX.c.topic,
                select(func.max(_OUTBOX.c.stream_position)).scalar_subquery(),
            )
            .where(_OUTBOX.c.dispatched_at.is_(None))
            .order_by(_OUTBOX.c.position)
            .limit(batch_size)
        )

    def wake(self) -> None:
        self._wakeup.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._run(), name="mlgraph-live-dispatch")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def dispatch_once(self) -> int:
        """Dispatch one batch; returns how many events it published."""
        async with write_lock(self._engine), self._sessions() as s, s.begin():
            if self._engine.dialect.name == "postgresql":
                await s.execute(_STREAM_LOCK)
            # The undispatched events with the stream's end, in one statement
            found = (await s.execute(self._pending)).all()
            if not found:
                return 0
            positions = [position for position, _, _ in found]
            with span(
                "outbox dispatch",
                {"mlgraph.outbox.events": len(positions), "mlgraph.outbox.first": positions[0]},
            ):
                # After the stream's end, and never below the positions (so, like them, the
                # stream does not start over when the table is emptied); gaps stay gaps.
                offset = max((found[0][2] or 0) + 1 - positions[0], 0)
                await s.execute(_MARK, {"positions": positions, "offset": offset, "now": utcnow()})
                first, last = positions[0] + offset, positions[-1] + offset
                topics = frozenset(topic for _, topic, _ in found)
                envelope = Envelope(first, last, len(positions), topics)
                await self._broker.publish(s, envelope)
        self._broker.committed(envelope)
        for listener in self.listeners:
            listener(envelope)
        self.dispatched += len(positions)
        return len(positions)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        published_at = -GATHER_S  # when the last round that published began
        while True:
            if (pause := published_at + GATHER_S - loop.time()) > 0:
                await asyncio.sleep(pause)
            self._wakeup.clear()  # a commit from now on wakes the next round
            began, before = loop.time(), self.dispatched
            try:
                while await self.dispatch_once() == self._batch_size:
                    pass
                if self.dispatched > before:
                    published_at = began
                await self._maybe_prune()
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("live: dispatch failed (%r); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval_s)

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        async with write_lock(self._engine):
            removed = await prune(self._sessions, self._retention)
        if removed:
            log.info("live: pruned %d outbox events older than %s", removed, self._retention)
