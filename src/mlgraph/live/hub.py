"""The hub: one per replica. It tails the outbox by position and fans events out to the
subscriptions of this replica, each through a bounded queue.

Subscribers are indexed by their :class:`Interest` (project, entity), so an event is offered
to the subscribers that may match it, not to every subscriber of the replica.

``stream()`` is what a subscription iterates: it registers first (so nothing that arrives
live is missed), replays ``after < position <= where the hub stood`` from the outbox, then
yields live events, skipping anything at or before what it already yielded. A subscription
whose queue fills (its client does not read fast enough) is dropped: its stream raises
:class:`SlowConsumer` and its ``on_overflow`` callback runs once. ``Subscriber.end`` ends a
stream from outside (the connection's credential expired): it raises :class:`StreamEnded`.

**Fan-out by the hub** (direct delivery, ``mlgraph.live.delivery``). A subscriber with a
:class:`Fanout` *parks* while its stream waits with nothing queued: the hub then delivers its
events itself. For each event it groups the parked subscribers that match by their fan-out
group (selection, variables, rights and operation id), has one of each group render the
payload (groups that differ only in the operation id share the render), and writes the
group's frame to each subscriber's socket: no task wake-up, no generator step, no ASGI send
per subscriber. A subscriber whose event cannot be written so
(a result with errors, changed credentials, a socket over its high-water mark) is unparked and
gets the event in its queue; its own task delivers it, and it parks again once its queue is
empty. The hub finishes each event (its renders included) before it offers the next, and a
subscriber parks only with an empty queue, so every subscriber sees its events in position
order, each once (``Subscriber.last``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import AsyncGenerator, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.live.credentials import CredentialChecks
from mlgraph.live.delivery import Direct
from mlgraph.live.events import LiveEvent, last_position, read_after, settled_position
from mlgraph.live.renders import Renders
from mlgraph.live.tasks import stop_task
from mlgraph.telemetry.metrics import SUBSCRIPTIONS

log = logging.getLogger("mlgraph.live")
#: The hub's index key: (project id, entity id or None for every entity of the project).
Key = tuple[uuid.UUID | None, uuid.UUID | None]
Listener = Callable[[LiveEvent], None]


@dataclass(frozen=True, slots=True)
class Interest:
    """What a subscription wants: events of one project, of these topics, of one entity
    (``entity_id``) or of every entity (None)."""

    project_id: uuid.UUID | None
    topics: tuple[str, ...]
    entity_id: uuid.UUID | None = None

    @property
    def key(self) -> Key:
        return (self.project_id, self.entity_id)

    def match(self, event: LiveEvent) -> bool:
        return (
            event.project_id == self.project_id
            and event.topic in self.topics
            and (self.entity_id is None or event.entity_id == self.entity_id)
        )


class StreamEnded(Exception):
    """The server ended the stream (credentials expired or revoked, access removed...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SlowConsumer(StreamEnded):
    def __init__(self, queued: int) -> None:
        super().__init__(f"slow consumer: {queued} events were waiting unread")
        self.queued = queued


_END: Final = object()


class Fanout(Protocol):
    """What lets the hub deliver a parked subscriber's events itself."""

    #: The operation's socket (its ``sink`` is not None) and its ``next`` message prefix.
    direct: Direct

    def group(self) -> Hashable | None:
        """The key of the fan-out group to park in now (subscribers of one group get one
        frame per event), or None: not now (its task delivers)."""
        ...

    def current(self) -> bool:
        """Still what it was when it parked (asked when the connection's principal changed:
        ``Subscriber.recheck``)."""
        ...

    async def payload(self, event: LiveEvent) -> str | None:
        """The event's encoded ``next`` payload for this group; None: its task delivers it
        (a result with errors, or the event is no longer readable)."""
        ...


class Group:
    """A fan-out group, one object per key while any subscriber is in it (``group_of``):
    sorting an event's parked subscribers into groups then hashes and compares no key."""

    __slots__ = ("__weakref__", "key")

    def __init__(self, key: Hashable) -> None:
        self.key = key


_GROUPS: weakref.WeakValueDictionary[Hashable, Group] = weakref.WeakValueDictionary()


def group_of(key: Hashable) -> Group:
    """The group of ``key`` (the one its parked subscribers share)."""
    group = _GROUPS.get(key)
    if group is None:
        group = _GROUPS[key] = Group(key)
    return group


class Subscriber:
    """One subscription's bounded queue: a list and at most one waiting future (an
    ``asyncio.Queue`` holds four deques and an event, ~3 KiB, for every idle subscriber)."""

    __slots__ = (
        "_items",
        "_size",
        "_waiter",
        "ended",
        "fanout",
        "group",
        "interest",
        "last",
        "live",
        "on_overflow",
        "overflowed",
        "parked",
        "sink",
        "topics",
    )

    def __init__(
        self,
        interest: Interest,
        size: int,
        on_overflow: Callable[[str], None],
        fanout: Fanout | None = None,
    ) -> None:
        self.interest = interest
        self.topics = interest.topics  # what the hub reads per event, kept at hand
        self.fanout = fanout
        self.sink = None if fanout is None else fanout.direct.sink
        #: Waiting with nothing queued, in fan-out ``group``: the hub delivers its events.
        self.parked = False
        self.group: Group | None = None
        #: The position of the last event it got (replayed, queued or written by the hub).
        self.last = 0
        self._items: list[LiveEvent | object] = []
        self._size = size
        self._waiter: asyncio.Future[None] | None = None
        self.on_overflow = on_overflow
        self.overflowed = False
        self.ended: StreamEnded | None = None
        #: Its starting point is settled: it gets every event committed from now on.
        self.live = False

    def offer(self, event: LiveEvent) -> None:
        if self.ended is not None or event.topic not in self.topics:
            return
        if len(self._items) < self._size:
            self._put(event)
            return
        self.overflowed = True
        slow = SlowConsumer(len(self._items))
        self.end(slow)
        self.on_overflow(str(slow))

    def recheck(self) -> None:
        """Its connection's principal changed: it stays parked only if its group still
        holds (``Fanout.current``); otherwise its task delivers its next event, and it parks
        again in the group it is in by then."""
        if self.parked and not (self.fanout is not None and self.fanout.current()):
            self.parked = False

    def end(self, why: StreamEnded) -> None:
        """End the stream once the events already queued are read."""
        if self.ended is None:
            self.ended = why
            self._put(_END)  # past the bound: the one item kept free for this

    def _put(self, item: LiveEvent | object) -> None:
        self.parked = False  # from now on its task delivers, in order
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> LiveEvent | object:
        """The oldest queued item, once there is one (parked meanwhile, if it can)."""
        while not self._items:
            if self.fanout is not None and (key := self.fanout.group()) is not None:
                self.group, self.parked = group_of(key), True
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
                self.parked = False
        return self._items.pop(0)


def _leader(members: list[Subscriber]) -> Fanout:
    fanout = members[0].fanout
    assert fanout is not None  # only subscribers with a fan-out park
    return fanout


def _retrieved(future: asyncio.Future[int]) -> None:
    """A round whose subscribers all left still has its error looked at (no warning)."""
    if not future.cancelled():
        future.exception()


class Hub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        credential_ttl_s: float = 15.0,
    ) -> None:
        self._sessions = sessions
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._subscribers: dict[Key, set[Subscriber]] = {}
        self._count = 0
        #: By topic: called with each event of it (live connections watch for revoked keys
        #: and role changes; an event of another topic costs no call per connection).
        self._listeners: dict[str, set[Listener]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()  # position is known
        #: One catch-up at a time (the hub's loop and a caller's ``catch_up`` both move
        #: ``position``; interleaved, a stale read could move it back past newer events).
        self._catching = asyncio.Lock()
        self.position = 0
        #: The highest position a broker announced (``wake``).
        self._announced = 0
        #: Results of events shared by subscribers that resolve them alike.
        self.renders = Renders()
        #: How many times an event was offered to a subscriber (each offer is a possible match).
        self.offers = 0
        #: How many frames the hub wrote to parked subscribers' sockets itself.
        self.written = 0
        #: The next round of ``settled_position`` (not started yet), and what runs the rounds.
        self._settle: asyncio.Future[int] | None = None
        self._settler: asyncio.Task[None] | None = None
        #: How many rounds ran (each is a few statements, however many subscribers asked).
        self.settle_rounds = 0
        #: The live connections' credential checks, shared by credential.
        self.credentials = CredentialChecks(credential_ttl_s)

    def listen(self, topics: Iterable[str], listener: Listener) -> None:
        """Call ``listener`` with every event of ``topics`` from now on."""
        for topic in topics:
            self._listeners.setdefault(topic, set()).add(listener)

    def unlisten(self, topics: Iterable[str], listener: Listener) -> None:
        for topic in topics:
            listeners = self._listeners.get(topic)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[topic]

    @property
    def subscriber_count(self) -> int:
        """Subscribers whose starting point is settled: an event committed after this counts
        one more is theirs (a test waits for it before it commits)."""
        return self._count

    async def start(self) -> None:
        """Tail from the log's end on the first start (as soon as the database answers: the
        app starts without it); a restart resumes where it stopped."""
        self._task = asyncio.create_task(self._run(), name="mlgraph-live-hub")

    async def ready(self) -> None:
        """Wait until the hub knows where the log ends."""
        await self._ready.wait()

    async def stop(self) -> None:
        """Stop tailing. A round of ``settled_position`` still finishes (within seconds) for
        the subscribers waiting on it: they outlive a stopped hub (it may start again)."""
        await stop_task(self._task)
        self._task = None

    def wake(self, last: int = 0) -> None:
        """Something was published up to ``last`` (0: unknown, look anyway)."""
        if last == 0 or last > self.position:
            self._announced = max(self._announced, last)
            self._wakeup.set()

    async def stream(
        self,
        interest: Interest,
        *,
        after: int | None,
        queue_size: int,
        on_overflow: Callable[[str], None],
        owner: set[Subscriber] | None = None,
        fanout: Fanout | None = None,
    ) -> AsyncGenerator[LiveEvent, None]:
        """Events matching ``interest``; ``owner`` (a connection's set) holds the subscriber
        while the stream runs, so the connection can end it. With ``fanout``, the hub delivers
        the live events it can itself (the stream then yields only the others)."""
        await self._ready.wait()
        subscriber = Subscriber(interest, queue_size, on_overflow, fanout)
        self._subscribers.setdefault(interest.key, set()).add(subscriber)
        if owner is not None:
            owner.add(subscriber)
        SUBSCRIPTIONS.inc()
        live_from = self.position
        try:
            # Live from the log's end now (the hub itself may still be behind it).
            last = max(live_from, await self.settled_position()) if after is None else after
            subscriber.last = last
            subscriber.live = True
            self._count += 1
            while subscriber.last < live_from:
                replay = await read_after(
                    self._sessions,
                    subscriber.last,
                    limit=self._batch_size,
                    upto=live_from,
                    topics=interest.topics,
                )
                if not replay:
                    break
                for event in replay:
                    subscriber.last = event.position
                    if interest.match(event):
                        yield event
            while True:
                item = await subscriber.get()
                if not isinstance(item, LiveEvent):
                    assert subscriber.ended is not None
                    raise subscriber.ended
                if item.position > subscriber.last:
                    subscriber.last = item.position
                    yield item
        finally:
            SUBSCRIPTIONS.dec()
            self._forget(subscriber)
            if owner is not None:
                owner.discard(subscriber)

    async def settled_position(self) -> int:
        """``events.settled_position``, computed once for every subscriber that asks before
        a round starts: a burst of subscribes costs a few rounds, not a poll each (a burst of
        1,000 polling on its own sessions emptied the pool, and the dispatcher waited too)."""
        if self._settle is None:
            self._settle = asyncio.get_running_loop().create_future()
            self._settle.add_done_callback(_retrieved)
            if self._settler is None or self._settler.done():
                self._settler = asyncio.create_task(self._settle_rounds(), name="mlgraph-settle")
        return await asyncio.shield(self._settle)

    async def _settle_rounds(self) -> None:
        while self._settle is not None:
            round_, self._settle = self._settle, None
            self.settle_rounds += 1
            try:
                round_.set_result(await settled_position(self._sessions))
            except Exception as exc:  # each subscriber that asked reports it
                round_.set_exception(exc)
            finally:
                if not round_.done():  # the hub stopped during the round
                    round_.cancel()

    def _forget(self, subscriber: Subscriber) -> None:
        key = subscriber.interest.key
        subscribers = self._subscribers.get(key)
        if subscribers is not None and subscriber in subscribers:
            subscribers.discard(subscriber)
            self._count -= subscriber.live
            if not subscribers:
                del self._subscribers[key]

    def _offer(self, event: LiveEvent) -> dict[Group, list[Subscriber]]:
        """To the subscribers of the event's entity and of its whole project: queued for
        those that are not parked; the parked ones, by fan-out group, are returned."""
        groups: dict[Group, list[Subscriber]] = {}
        topic = event.topic
        for key in ((event.project_id, None), (event.project_id, event.entity_id)):
            subscribers = self._subscribers.get(key)
            if subscribers:
                self.offers += len(subscribers)
                for subscriber in subscribers:  # an offer only queues: the set stays as it is
                    if not subscriber.parked:
                        subscriber.offer(event)
                    elif topic in subscriber.topics:
                        group = subscriber.group
                        assert group is not None  # a parked subscriber is in a group
                        members = groups.get(group)
                        if members is None:
                            groups[group] = [subscriber]
                        else:
                            members.append(subscriber)
            if event.entity_id is None:
                break
        return groups

    async def _fan_out(self, event: LiveEvent, groups: dict[Group, list[Subscriber]]) -> None:
        """Write the event to its parked subscribers: one render and one frame per group;
        whoever cannot take it so gets it in its queue."""
        renders = [_leader(members).payload(event) for members in groups.values()]
        if len(renders) == 1:
            try:
                payloads: list[str | BaseException | None] = [await renders[0]]
            except Exception as exc:  # its subscribers' tasks report it
                payloads = [exc]
        else:
            payloads = await asyncio.gather(*renders, return_exceptions=True)
        position, written = event.position, 0
        for members, payload in zip(groups.values(), payloads, strict=True):
            if not isinstance(payload, str):
                for subscriber in members:
                    subscriber.offer(event)  # its task delivers it, after what it has queued
                continue
            frame = _leader(members).direct.frame(payload)
            for subscriber in members:
                if subscriber.parked:
                    if position <= subscriber.last:
                        continue
                    sink = subscriber.sink
                    assert sink is not None  # a subscriber parks only with a sink
                    if sink.write_frame(frame):
                        subscriber.last = position
                        written += 1
                        continue
                subscriber.offer(event)  # its task delivers it
        self.written += written

    async def catch_up(self) -> int:
        """Read and fan out everything after ``position``; returns how many events.

        With no subscriber and no listener nothing reads the events: the hub only moves to
        the announced end (a subscriber that comes later replays from the outbox itself)."""
        async with self._catching:
            return await self._catch_up()

    async def tail_from_end(self) -> None:
        """Tail from the log's end as it is now, forgetting what brokers announced (after the
        outbox was emptied: on SQLite its positions then start over from 1)."""
        async with self._catching:
            await self._to_end()

    async def _to_end(self) -> None:
        self.position = self._announced = await last_position(self._sessions)

    async def _catch_up(self) -> int:
        if not self._subscribers and not self._listeners and self._announced > self.position:
            self.position = self._announced
            return 0
        seen = 0
        while True:
            events = await read_after(self._sessions, self.position, limit=self._batch_size)
            for event in events:
                groups = self._offer(event)
                if groups:
                    await self._fan_out(event, groups)
                if listeners := self._listeners.get(event.topic):
                    for listener in list(listeners):
                        listener(event)
                self.position = event.position
            seen += len(events)
            if not events and await last_position(self._sessions) < self.position:
                log.warning("live: the outbox was emptied or restored; tailing from its end")
                await self._to_end()
            if len(events) < self._batch_size:
                return seen

    async def _run(self) -> None:
        while not self._ready.is_set():
            try:
                self.position = await last_position(self._sessions)
                self._ready.set()
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("live: the outbox is unreachable (%r); retrying", exc)
                await asyncio.sleep(self._poll_interval_s)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval_s)
            self._wakeup.clear()
            try:
                await self.catch_up()
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("live: reading the outbox failed (%r); retrying", exc)
                await asyncio.sleep(self._poll_interval_s)
