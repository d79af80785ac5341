"""The hub and dispatcher on the real outbox (no server): bounded queues, replay, retention."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from mlgraph.errors import BadUserInput
from mlgraph.live.brokers import InProcessBroker
from mlgraph.live.dispatcher import Dispatcher
from mlgraph.live.events import (
    LiveEvent,
    check_retained,
    decode_stream_cursor,
    encode_stream_cursor,
    prune,
)
from mlgraph.live.hub import Hub, SlowConsumer
from mlgraph.storage import models as m
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import unit_of_work
from tests.conftest import Backend
from tests.live import until


async def emit(db: Backend, n: int, topic: str = "job.updated") -> None:
    for i in range(n):
        async with unit_of_work(db.sessions, actor="test", request_id="r") as tx:
            tx.emit(topic, "Job", uuid.uuid4(), None, {"i": i})


def anything(_: LiveEvent) -> bool:
    return True


async def test_a_slow_subscriber_is_dropped_with_a_reason(db: Backend) -> None:
    hub = Hub(db.sessions, poll_interval_s=60)
    await hub.start()
    await hub.ready()
    reasons: list[str] = []
    stream = hub.stream(anything, after=None, topics=(), queue_size=2, on_overflow=reasons.append)
    async with asyncio.timeout(10):
        first = asyncio.ensure_future(anext(stream))  # registers, then waits
        await until(lambda: hub.subscriber_count == 1)
        await emit(db, 1)
        await hub.catch_up()
        assert (await first).payload == {"i": 0}
        # the subscriber stops reading; five more events arrive for a queue of two
        await emit(db, 5)
        await hub.catch_up()
        assert len(reasons) == 1
        assert "slow consumer" in reasons[0]
        # it still gets what was queued, then the stream ends with SlowConsumer
        assert [(await anext(stream)).payload["i"] for _ in range(2)] == [0, 1]  # of the five
        with pytest.raises(SlowConsumer):
            await anext(stream)
    assert hub.subscriber_count == 0
    await hub.stop()


async def test_dispatcher_marks_in_batches_and_wakes_the_hub(db: Backend) -> None:
    await emit(db, 7)
    async with db.sessions() as s:
        first = int(await s.scalar(select(func.min(m.OutboxEvent.position))) or 0)
    woken: list[int] = []
    broker = InProcessBroker()
    await broker.start(woken.append)
    dispatcher = Dispatcher(db.sessions, broker, batch_size=3)
    assert [await dispatcher.dispatch_once() for _ in range(4)] == [3, 3, 1, 0]
    assert woken == [first + 2, first + 5, first + 6]  # the last position of each batch
    async with db.sessions() as s:
        left = await s.scalar(select(func.count()).where(m.OutboxEvent.dispatched_at.is_(None)))
    assert left == 0


async def test_cursors_round_trip_and_bad_ones_are_refused() -> None:
    assert decode_stream_cursor(encode_stream_cursor(42)) == 42
    for bad in ("", "nope", encode_stream_cursor(1)[:-2] + "!!", "b3V0Ym94Oi0x"):
        with pytest.raises(BadUserInput):
            decode_stream_cursor(bad)


async def test_pruned_history_cannot_be_replayed(db: Backend) -> None:
    await emit(db, 4)
    async with db.sessions() as s, s.begin():
        old = utcnow() - timedelta(days=8)
        await s.execute(update(m.OutboxEvent).values(created_at=old, dispatched_at=old))
    async with db.sessions() as s:
        first = int(await s.scalar(select(func.min(m.OutboxEvent.position))) or 0)
    assert await prune(db.sessions, timedelta(days=7)) == 3  # the newest one always stays
    with pytest.raises(BadUserInput):
        await check_retained(db.sessions, first)
    await check_retained(db.sessions, first + 2)  # its successor is still there
    with pytest.raises(BadUserInput):
        await check_retained(db.sessions, first + 4)  # past the end
