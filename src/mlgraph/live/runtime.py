"""What the app's lifespan starts and stops: broker, dispatcher and hub of this replica."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.live.brokers import Broker, Envelope, InProcessBroker, PostgresBroker
from mlgraph.live.dispatcher import Dispatcher
from mlgraph.live.hub import Hub
from mlgraph.settings import Settings
from mlgraph.storage.uow import on_outbox_commit
from mlgraph.webhooks.deliverer import Deliverer
from mlgraph.webhooks.events import TOPICS


@dataclass
class Live:
    settings: Settings
    broker: Broker
    dispatcher: Dispatcher
    hub: Hub
    deliverer: Deliverer | None = None


def make_broker(settings: Settings) -> Broker:
    kind = settings.live_broker
    if kind == "auto":
        kind = "postgres" if settings.is_postgresql else "memory"
    if kind == "postgres":
        if not settings.is_postgresql:
            raise ValueError("MLGRAPH_LIVE_BROKER=postgres needs a PostgreSQL database_url")
        return PostgresBroker(settings.effective_database_url)
    return InProcessBroker()


def wake_for_webhooks(deliverer: Deliverer) -> Callable[[Envelope], None]:
    """Wake the deliverer for rounds with an event a webhook can receive (``TOPICS``): the
    others make no delivery (its poll moves its cursor past them, a batch at a time)."""

    def wake(envelope: Envelope) -> None:
        if not envelope.topics.isdisjoint(TOPICS):
            deliverer.wake()

    return wake


@asynccontextmanager
async def running_live(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Live]:
    """Start hub, broker and dispatcher (in that order, so no wake-up is missed); stop them in
    reverse on exit."""
    hub = Hub(
        sessions,
        batch_size=settings.live_batch_size,
        poll_interval_s=settings.live_poll_interval_s,
    )
    broker = make_broker(settings)
    dispatcher = Dispatcher(
        sessions,
        broker,
        batch_size=settings.live_batch_size,
        poll_interval_s=settings.live_poll_interval_s,
        retention=timedelta(seconds=settings.live_retention_s),
    )
    await hub.start()
    await broker.start(hub.wake)
    engine = sessions.kw["bind"]
    # Local commits wake the dispatcher only: events join the stream when it publishes them,
    # and that wakes the hubs (through the broker) and the deliverer.
    forget = [on_outbox_commit(engine, dispatcher.wake)]
    deliverer = Deliverer(settings, sessions) if settings.webhooks_enabled else None
    if deliverer is not None:
        dispatcher.listeners.append(wake_for_webhooks(deliverer))
        deliverer.start()
    dispatcher.start()
    try:
        yield Live(settings, broker, dispatcher, hub, deliverer)
    finally:
        for undo in forget:
            undo()
        if deliverer is not None:
            await deliverer.stop()
        await dispatcher.stop()
        await broker.stop()
        await hub.stop()
