"""Brokers carry "the outbox moved" from the dispatcher to every replica's hub.

A broker never carries event payloads: ``publish`` runs inside the dispatcher's transaction
that marks a batch dispatched, with a small envelope (first and last position, count), and a
hub that hears it reads the events from the outbox itself.

* :class:`InProcessBroker`: one process (the embedded default). Wakes the local hub after the
  dispatcher's commit.
* :class:`PostgresBroker`: several replicas on one PostgreSQL. ``pg_notify`` inside the
  marking transaction (so the notification exists exactly when the marking committed); each
  replica LISTENs on its own connection and reconnects with backoff when it is lost, waking its
  hub on every (re)connect so the hub catches up from the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.live.tasks import stop_task

log = logging.getLogger("mlgraph.live")
CHANNEL = "mlgraph_outbox"
Wake = Callable[[int], None]


@dataclass(frozen=True)
class Envelope:
    first: int
    last: int
    count: int
    #: The events' topics, for the dispatcher's local listeners (not sent: empty when heard).
    topics: frozenset[str] = frozenset()

    def to_json(self) -> str:
        return json.dumps({"first": self.first, "last": self.last, "count": self.count})


class Broker(Protocol):
    async def start(self, wake: Wake) -> None:
        """Begin calling ``wake(last position)`` whenever events were published."""

    async def publish(self, session: AsyncSession, envelope: Envelope) -> None:
        """Announce ``envelope`` as part of ``session``'s (not yet committed) transaction."""

    def committed(self, envelope: Envelope) -> None:
        """The transaction that published ``envelope`` committed."""

    async def stop(self) -> None: ...


class InProcessBroker:
    def __init__(self) -> None:
        self._wake: Wake | None = None

    async def start(self, wake: Wake) -> None:
        self._wake = wake

    async def publish(self, session: AsyncSession, envelope: Envelope) -> None:
        return None

    def committed(self, envelope: Envelope) -> None:
        if self._wake is not None:
            self._wake(envelope.last)

    async def stop(self) -> None:
        self._wake = None


class PostgresBroker:
    """LISTEN/NOTIFY on ``CHANNEL``; the listening connection is a plain asyncpg connection
    outside the pool (it is held for the process's life)."""

    def __init__(self, database_url: str, *, reconnect_max_s: float = 5.0) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._reconnect_max_s = reconnect_max_s
        self._wake: Wake | None = None
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def start(self, wake: Wake) -> None:
        """Connect in the background (each (re)connect wakes the hub, which then reads what
        it missed, so nothing published before the connection is up is lost)."""
        self._wake = wake
        self._task = asyncio.create_task(self._listen_forever(), name="mlgraph-live-listen")

    async def publish(self, session: AsyncSession, envelope: Envelope) -> None:
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": envelope.to_json()},
        )

    def committed(self, envelope: Envelope) -> None:
        return None  # delivered by PostgreSQL to every listener, this replica included

    def drop_connection(self) -> None:
        """Abort the listening connection (tests: a lost connection must lose no event)."""
        if self._conn is not None:
            self._conn.terminate()

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            last = int(json.loads(payload)["last"])
        except (ValueError, KeyError, TypeError):
            log.warning("live: ignoring a malformed notification")
            return
        if self._wake is not None:
            self._wake(last)

    async def _listen_forever(self) -> None:
        delay = 0.1
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("live: LISTEN connect failed (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max_s)
                continue
            self._conn = conn
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.connected.set()
                delay = 0.1
                if self.reconnects:
                    log.warning(
                        "live: LISTEN connection re-established (reconnect %d)", self.reconnects
                    )
                if self._wake is not None:
                    self._wake(0)  # catch up on whatever was published while not listening
                await self._watch(conn, lost)
                log.warning("live: LISTEN connection lost; reconnecting")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live: LISTEN connection lost (%r); reconnecting", exc)
            finally:
                self.connected.clear()
                self._conn = None
                self.reconnects += 1
                if not conn.is_closed():
                    conn.terminate()

    @staticmethod
    async def _watch(conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return when the connection is gone (terminated, or silently dead: a ping fails)."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), 10)
                return
            await conn.execute("SELECT 1", timeout=5)
