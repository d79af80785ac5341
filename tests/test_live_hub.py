"""The hub and dispatcher on the real outbox (no server): bounded queues, replay, retention."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Table, func, select, update

from mlgraph.errors import BadUserInput
from mlgraph.live.brokers import InProcessBroker
from mlgraph.live.delivery import Direct, text_frame
from mlgraph.live.dispatcher import Dispatcher
from mlgraph.live.events import (
    LiveEvent,
    check_retained,
    decode_stream_cursor,
    encode_stream_cursor,
    prune,
    read_after,
)
from mlgraph.live.hub import Hub, Interest, SlowConsumer, Subscriber
from mlgraph.live.renders import Renders
from mlgraph.storage import models as m
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import outbox_insert, unit_of_work
from tests import factories as f
from tests.conftest import Backend
from tests.live import until


async def emit(db: Backend, n: int, topic: str = "job.updated") -> None:
    """``n`` committed events, not yet in the stream."""
    for i in range(n):
        async with unit_of_work(db.sessions, actor="test", request_id="r") as tx:
            tx.emit(topic, "Job", uuid.uuid4(), None, {"i": i})


async def publish(db: Backend, n: int) -> None:
    """``n`` events committed and dispatched into the stream."""
    await emit(db, n)
    await Dispatcher(db.sessions, InProcessBroker()).dispatch_once()


#: ``emit``'s events belong to no project.
JOBS = Interest(None, ("job.updated",))


async def test_a_slow_subscriber_is_dropped_with_a_reason(db: Backend) -> None:
    hub = Hub(db.sessions, poll_interval_s=60)
    await hub.start()
    await hub.ready()
    reasons: list[str] = []
    stream = hub.stream(JOBS, after=None, queue_size=2, on_overflow=reasons.append)
    async with asyncio.timeout(10):
        first = asyncio.ensure_future(anext(stream))  # registers, then waits
        await until(lambda: hub.subscriber_count == 1)
        await publish(db, 1)
        await hub.catch_up()
        assert (await first).payload == {"i": 0}
        # the subscriber stops reading; five more events arrive for a queue of two
        await publish(db, 5)
        await hub.catch_up()
        assert len(reasons) == 1
        assert "slow consumer" in reasons[0]
        # it still gets what was queued, then the stream ends with SlowConsumer
        assert [(await anext(stream)).payload["i"] for _ in range(2)] == [0, 1]  # of the five
        with pytest.raises(SlowConsumer):
            await anext(stream)
    assert hub.subscriber_count == 0
    await hub.stop()


async def test_an_event_is_offered_to_its_project_and_entity_subscribers_only(
    db: Backend,
) -> None:
    """Fan-out costs O(matching subscribers): 200 subscribers of another project, or of
    another job, are never offered the event."""
    mine, other = f.project(slug="mine"), f.project(slug="other")
    await f.save(db.sessions, mine, other)
    job, elsewhere = uuid.uuid4(), uuid.uuid4()
    hub = Hub(db.sessions, poll_interval_s=60)
    await hub.start()
    await hub.ready()
    interests = [Interest(other.id, ("job.updated",))] * 100
    interests += [Interest(mine.id, ("job.updated",), elsewhere)] * 100
    interests += [Interest(mine.id, ("job.updated",)), Interest(mine.id, ("job.updated",), job)]
    now = hub.position  # live from here: no read of the log's end to race with the event
    streams = [hub.stream(i, after=now, queue_size=4, on_overflow=print) for i in interests]
    async with asyncio.timeout(10):
        nexts = [asyncio.ensure_future(anext(s)) for s in streams]
        await until(lambda: hub.subscriber_count == len(interests))
        async with unit_of_work(db.sessions, actor="test", request_id="r") as tx:
            tx.emit("job.updated", "Job", job, mine.id, {"i": 1})
        await Dispatcher(db.sessions, InProcessBroker()).dispatch_once()
        await hub.catch_up()
        assert hub.offers == 2
        assert [(await n).payload for n in nexts[-2:]] == [{"i": 1}, {"i": 1}]
        assert not any(n.done() for n in nexts[:-2])
        for n in nexts[:-2]:
            n.cancel()
    await hub.stop()


async def test_subscribers_alike_share_one_result_per_event() -> None:
    """The first subscriber of (event, selection, rights) computes; the others wait for its
    result, even when the first one is cancelled meanwhile."""
    renders = Renders()
    started = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def compute() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return "result"

    owner = object()
    first = asyncio.ensure_future(renders.result(("e1", id(owner)), owner, compute))
    await started.wait()
    others = [
        asyncio.ensure_future(renders.result(("e1", id(owner)), owner, compute)) for _ in range(5)
    ]
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await asyncio.gather(*others) == ["result"] * 5
    assert calls == 1
    assert await renders.result(("e2", id(owner)), owner, compute) == "result"
    assert calls == 2


async def test_dispatcher_marks_in_batches_and_wakes_the_hub(db: Backend) -> None:
    await emit(db, 7)
    woken: list[int] = []
    broker = InProcessBroker()
    await broker.start(woken.append)
    dispatcher = Dispatcher(db.sessions, broker, batch_size=3)
    assert [await dispatcher.dispatch_once() for _ in range(4)] == [3, 3, 1, 0]
    async with db.sessions() as s:
        stream = (
            await s.execute(
                select(m.OutboxEvent.payload, m.OutboxEvent.stream_position).order_by(
                    m.OutboxEvent.position
                )
            )
        ).all()
    first = stream[0][1]
    # the stream numbers them in insertion order; the last stream position of each batch
    assert [(p["i"], n) for p, n in stream] == [(i, first + i) for i in range(7)]
    assert woken == [first + 2, first + 5, first + 6]
    async with db.sessions() as s:
        left = await s.scalar(select(func.count()).where(m.OutboxEvent.dispatched_at.is_(None)))
    assert left == 0


async def test_cursors_round_trip_and_bad_ones_are_refused() -> None:
    assert decode_stream_cursor(encode_stream_cursor(42)) == 42
    for bad in ("", "nope", encode_stream_cursor(1)[:-2] + "!!", "b3V0Ym94Oi0x"):
        with pytest.raises(BadUserInput):
            decode_stream_cursor(bad)


async def test_pruned_history_cannot_be_replayed(db: Backend) -> None:
    await publish(db, 4)
    async with db.sessions() as s, s.begin():
        old = utcnow() - timedelta(days=8)
        await s.execute(update(m.OutboxEvent).values(created_at=old, dispatched_at=old))
    async with db.sessions() as s:
        first = int(await s.scalar(select(func.min(m.OutboxEvent.stream_position))) or 0)
    assert await prune(db.sessions, timedelta(days=7)) == 3  # the newest one always stays
    with pytest.raises(BadUserInput):
        await check_retained(db.sessions, first)
    await check_retained(db.sessions, first + 2)  # its successor is still there
    with pytest.raises(BadUserInput):
        await check_retained(db.sessions, first + 4)  # past the end


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_an_event_committed_late_joins_the_stream_after_those_before_it(
    db: Backend,
) -> None:
    """Mutations insert their events without a lock; the stream still follows commit order."""
    dispatcher = Dispatcher(db.sessions, InProcessBroker())
    # Given a transaction that inserted its event first and stays open
    async with db.sessions() as held, held.begin():
        late = m.OutboxEvent(
            event_id=uuid.uuid4(),
            topic="job.updated",
            entity_type="Job",
            entity_id=None,
            project_id=None,
            payload={"i": "late"},
            created_at=utcnow(),
        )
        await held.execute(*outbox_insert(held, [late]))
        # a mutation with an event commits meanwhile, without waiting for it
        await asyncio.wait_for(emit(db, 1), 10)
        assert await dispatcher.dispatch_once() == 1
        assert [e.payload for e in await read_after(db.sessions, 0, limit=10)] == [{"i": 0}]
    # when the held one commits, its event comes after, though it was inserted before
    assert await dispatcher.dispatch_once() == 1
    stream = await read_after(db.sessions, 0, limit=10)
    assert [e.payload for e in stream] == [{"i": 0}, {"i": "late"}]
    async with db.sessions() as s:
        rows = await s.execute(select(m.OutboxEvent.payload).order_by(m.OutboxEvent.position))
        assert [r.payload for r in rows] == [{"i": "late"}, {"i": 0}]


async def test_a_burst_of_subscribers_finds_the_stream_end_in_one_or_two_rounds(
    db: Backend,
) -> None:
    """Where "live from now" starts waits until every committed event is in the stream; 300
    subscribers arriving at once wait together (a round or two of statements), not one poll
    each on the pool's sessions."""
    hub = Hub(db.sessions, poll_interval_s=60)
    await hub.start()
    await hub.ready()
    # given an event committed before anyone subscribed, not yet in the stream
    await emit(db, 1)
    reasons: list[str] = []
    streams = [
        hub.stream(JOBS, after=None, queue_size=4, on_overflow=reasons.append) for _ in range(300)
    ]
    firsts = [asyncio.ensure_future(anext(s)) for s in streams]
    async with asyncio.timeout(20):
        # (registered, waiting for where "now" is: not yet counted as live)
        await until(lambda: len(hub._subscribers.get(JOBS.key, ())) == 300)
        assert hub.subscriber_count == 0
        # when the dispatcher publishes it, and then an event committed after they subscribed
        await Dispatcher(db.sessions, InProcessBroker()).dispatch_once()
        await until(lambda: hub._settler is not None and hub._settler.done())
        await hub.catch_up()
        before = await read_after(db.sessions, 0, limit=10)
        await publish(db, 1)
        await hub.catch_up()
        received = await asyncio.gather(*firsts)
        assert hub.subscriber_count == 300
    # then each gets only the later event, and the stream's end was read in at most two rounds
    assert [e.position for e in before] == [before[0].position]
    assert {e.position for e in received} == {before[0].position + 1}
    assert hub.settle_rounds <= 2
    assert not reasons
    for stream in streams:
        await stream.aclose()
    await hub.stop()


class SocketSink:
    """A real socket the hub writes frames to (what ``LiveWebSocketProtocol`` is); while
    ``full``, it takes none (as a transport over its high-water mark)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.full = False

    def accepts_frames(self) -> bool:
        return not self.transport.is_closing() and not self.full

    def write_frame(self, frame: bytes) -> bool:
        if self.transport.is_closing() or self.full:
            return False
        self.transport.write(frame)
        return True


class OddOneOut:
    """A fan-out whose render of event ``i == odd`` has errors (its task must deliver it)."""

    def __init__(self, sink: SocketSink, odd: int | None = 1) -> None:
        self.odd = odd

        async def send_text(text: str) -> None:
            sink.write_frame(text_frame(text.encode()))

        self.direct = Direct.of("1", json.dumps, send_text, sink)

    def group(self) -> str:
        return "everyone"

    def current(self) -> bool:
        return True

    async def payload(self, event: LiveEvent) -> str | None:
        await asyncio.sleep(0)  # a render takes a moment: the subscriber's task may run
        i = event.payload["i"]
        return None if i == self.odd else json.dumps({"i": i})


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    head = await reader.readexactly(2)
    assert head[0] == 0x81  # one unfragmented text frame
    message: dict[str, Any] = json.loads(await reader.readexactly(head[1]))
    return message


@dataclass
class Parked:
    """A hub, one subscriber on a real socket (``sink``) and the socket's other end, with a
    task that delivers what the subscriber's stream yields as ``{"i": ..., "by": "task"}``."""

    hub: Hub
    sink: SocketSink
    fanout: OddOneOut
    reader: asyncio.StreamReader
    mine: set[Subscriber]

    def parked(self) -> bool:
        return len(self.mine) == 1 and all(s.parked for s in self.mine)

    async def events(self, db: Backend, n: int) -> list[tuple[int, str | None]]:
        """Commit ``n`` events, have the hub read them, and return what the socket got."""
        await publish(db, n)
        await self.hub.catch_up()
        got = [(await read_frame(self.reader))["payload"] for _ in range(n)]
        return [(m["i"], m.get("by")) for m in got]


@contextlib.asynccontextmanager
async def parked_on_a_socket(db: Backend, odd: int | None) -> AsyncIterator[Parked]:
    hub = Hub(db.sessions, poll_interval_s=60)
    await hub.start()
    await hub.ready()
    server_end, client_end = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, server_end)
    reader, writer = await asyncio.open_connection(sock=client_end)
    sink = SocketSink(transport)
    fanout = OddOneOut(sink, odd)
    mine: set[Subscriber] = set()
    stream = hub.stream(
        JOBS, after=hub.position, queue_size=16, on_overflow=print, owner=mine, fanout=fanout
    )

    async def task() -> None:  # what the subscription's own task does with what it gets
        async for event in stream:
            sink.full = False  # its transport's buffer drained meanwhile
            await fanout.direct.send_next(json.dumps({"i": event.payload["i"], "by": "task"}))

    consumer = asyncio.create_task(task())
    try:
        yield Parked(hub, sink, fanout, reader, mine)
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        transport.close()
        writer.close()
        await hub.stop()


async def test_the_hub_writes_parked_subscribers_frames_in_order_with_their_task(
    db: Backend,
) -> None:
    """Events the hub cannot write itself go through the subscriber's own task, and the
    socket still sees every event once, in order."""
    async with parked_on_a_socket(db, odd=1) as p, asyncio.timeout(10):
        await until(p.parked)
        # given a parked subscriber, when five events arrive, the second with errors
        written = p.hub.written
        first = await p.events(db, 5)
        # and two more once its task has delivered what it was given
        await until(p.parked)
        then = await p.events(db, 2)
        # then the socket gets all seven in order, each once: the hub wrote the first; the
        # second went to the subscriber's task, and so did those after it while it had any
        # queued; then the hub wrote again
        assert first + then == [
            (0, None),
            (1, "task"),
            (2, "task"),
            (3, "task"),
            (4, "task"),
            (0, None),
            (1, "task"),
        ]
        assert p.hub.written - written == 2


async def test_a_socket_that_takes_no_frame_gets_its_events_through_its_task(
    db: Backend,
) -> None:
    """A parked subscriber whose socket refuses the hub's frame (over its high-water mark)
    gets the event from its own task, in order, and the hub writes again once it parks."""
    async with parked_on_a_socket(db, odd=None) as p, asyncio.timeout(10):
        await until(p.parked)
        # given a parked subscriber whose socket fills up, when two events arrive
        written = p.hub.written
        p.sink.full = True
        first = await p.events(db, 2)
        # and one more once it has parked again
        await until(p.parked)
        then = await p.events(db, 1)
        # then its task delivered both, in order, and the hub wrote the third
        assert first + then == [(0, "task"), (1, "task"), (0, None)]
        assert p.hub.written - written == 1


async def test_with_nobody_subscribed_commits_cost_the_hub_no_read(db: Backend) -> None:
    """While no subscriber (and no connection) listens, the hub moves to the end the broker
    announced without reading the events; a subscriber that comes later still gets what it
    asks for: the events after its cursor from the outbox, then the live ones."""
    hub = Hub(db.sessions, poll_interval_s=60)
    await hub.start()
    await hub.ready()
    broker = InProcessBroker()
    await broker.start(hub.wake)
    await emit(db, 3)
    db.sql.start()
    await Dispatcher(db.sessions, broker).dispatch_once()
    events = await read_after(db.sessions, 0, limit=10)
    async with asyncio.timeout(10):
        await until(lambda: hub.position == events[-1].position)
    db.sql.stop()
    reads = [x for x in db.sql.statements if "stream_position >" in x]
    assert len(reads) == 1  # this test's own read_after, none of the hub's
    stream = hub.stream(JOBS, after=events[0].position, queue_size=8, on_overflow=print)
    async with asyncio.timeout(10):
        replayed = [await anext(stream), await anext(stream)]
        assert [e.position for e in replayed] == [e.position for e in events[1:]]
        later = asyncio.ensure_future(anext(stream))
        await publish(db, 1)
        await hub.catch_up()
        assert (await later).position > events[-1].position
    await stream.aclose()
    await hub.stop()


async def test_after_the_outbox_is_emptied_the_hub_tails_from_its_new_end(db: Backend) -> None:
    """On SQLite the positions start over from 1 once the outbox is emptied. A hub told of
    position 3 by a round that ended after the emptying, and then tailing from the new end,
    gives a new subscriber the first event committed after it (had it moved to the announced
    3, the subscriber would have skipped events 1 to 3)."""
    hub = Hub(db.sessions, poll_interval_s=60)
    await hub.start()
    await hub.ready()
    await publish(db, 3)  # through a broker of its own: this hub is not told
    outbox = m.OutboxEvent.__table__
    assert isinstance(outbox, Table)
    async with db.engine.begin() as conn:
        await conn.execute(outbox.delete())
    hub.wake(3)  # the round's announcement comes late
    await hub.tail_from_end()
    assert hub.position == 0
    stream = hub.stream(JOBS, after=None, queue_size=4, on_overflow=print)
    async with asyncio.timeout(10):
        first = asyncio.ensure_future(anext(stream))
        await until(lambda: hub.subscriber_count == 1)
        await publish(db, 1)
        await hub.catch_up()
        assert (await first).payload == {"i": 0}
    await hub.stop()
