"""Delivery across replicas and across failures: nothing committed is lost, order is kept.

The subscriber's instance polls the outbox only every 60 s here, so what these tests see
arrives through the broker (in-process wake-up, or PostgreSQL NOTIFY) and the catch-up it
triggers, not through the fallback poll.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest
from sqlalchemy import func, select

from mlgraph.ids import encode_global_id
from mlgraph.live.brokers import PostgresBroker
from mlgraph.storage import models as m
from mlgraph.storage.enums import JobStatus
from tests import factories as f
from tests.conftest import Backend, truncate
from tests.live import JOB_UPDATED, TRANSPORT_WS, Instance, collect, instance, subscribed, ws_client


class Overrides(TypedDict, total=False):
    """Settings an :func:`instance` here is given (keywords of its ``**overrides``)."""

    live_poll_interval_s: float


SLOW_POLL: Overrides = {"live_poll_interval_s": 60.0}
REPORTS = 6


@pytest.fixture
async def clean(backend: Backend) -> Backend:
    await truncate(backend)
    return backend


#: Several replicas share one PostgreSQL; the embedded SQLite default is one process.
postgresql_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def a_job(backend: Backend) -> tuple[str, str]:
    p = f.project()
    pl = f.pipeline(p)
    j = f.job(pl, status=JobStatus.RUNNING)  # progress is reported while a job runs
    await f.save(backend.sessions, p, pl, j)
    return encode_global_id("Project", p.id), encode_global_id("Job", j.id)


async def reports(writer: Instance, job_id: str, n: int = REPORTS) -> list[float]:
    sent = [round((i + 1) / n, 3) for i in range(n)]
    for progress in sent:
        await writer.mutate("updateJob", {"jobId": job_id, "progress": progress}, "job { id }")
    return sent


async def undispatched(backend: Backend) -> int:
    async with backend.sessions() as s:
        stmt = select(func.count()).where(m.OutboxEvent.dispatched_at.is_(None))
        return int(await s.scalar(stmt) or 0)


def listen(
    inst: Instance, pid: str, job_id: str, n: int, into: list[dict[str, Any]]
) -> asyncio.Task[None]:
    client = ws_client(inst, TRANSPORT_WS)
    return asyncio.create_task(collect(client, JOB_UPDATED, {"p": pid, "j": job_id}, n, into))


def progress(received: list[dict[str, Any]]) -> list[float]:
    return [r["jobUpdated"]["progress"] for r in received]


@postgresql_only
async def test_mutation_on_a_reaches_subscriber_on_b(clean: Backend) -> None:
    pg = clean
    async with instance(pg, **SLOW_POLL) as a, instance(pg, **SLOW_POLL) as b:
        pid, job_id = await a_job(pg)
        received: list[dict[str, Any]] = []
        listener = listen(b, pid, job_id, REPORTS, received)
        await subscribed(b)
        sent = await reports(a, job_id)
        await asyncio.wait_for(listener, 10)
        assert progress(received) == sent
        assert await undispatched(pg) == 0


@postgresql_only
async def test_stopped_dispatchers_resume_and_every_event_arrives_in_order(
    clean: Backend,
) -> None:
    async with instance(clean, **SLOW_POLL) as a, instance(clean, **SLOW_POLL) as b:
        pid, job_id = await a_job(clean)
        received: list[dict[str, Any]] = []
        listener = listen(b, pid, job_id, REPORTS, received)
        await subscribed(b)
        # given every dispatcher is stopped while A commits events
        await a.live.dispatcher.stop()
        await b.live.dispatcher.stop()
        sent = await reports(a, job_id)
        await asyncio.sleep(0.3)
        assert received == []
        assert await undispatched(clean) >= REPORTS
        # when A's starts again, then B gets everything, in order, and all is marked
        a.live.dispatcher.start()
        await asyncio.wait_for(listener, 10)
        assert progress(received) == sent
        assert await undispatched(clean) == 0


async def test_stopped_hub_resumes_where_it_stopped(clean: Backend) -> None:
    async with instance(clean, **SLOW_POLL) as app:
        pid, job_id = await a_job(clean)
        received: list[dict[str, Any]] = []
        listener = listen(app, pid, job_id, REPORTS, received)
        await subscribed(app)
        # given the hub stops while events are committed
        await app.live.hub.stop()
        sent = await reports(app, job_id)
        await asyncio.sleep(0.3)
        assert received == []
        # when it starts again, every event arrives, in order
        await app.live.hub.start()
        app.live.hub.wake()
        await asyncio.wait_for(listener, 10)
        assert progress(received) == sent


@postgresql_only
async def test_a_restarted_replica_dispatches_what_a_dead_one_left(clean: Backend) -> None:
    pg = clean
    async with instance(pg, **SLOW_POLL) as b:
        pid, job_id = await a_job(pg)
        received: list[dict[str, Any]] = []
        listener = listen(b, pid, job_id, REPORTS, received)
        await subscribed(b)
        # given a writer whose dispatcher never ran (it died before dispatching) ...
        await b.live.dispatcher.stop()
        async with instance(pg, live_enabled=False) as dead:
            sent = await reports(dead, job_id)
        assert await undispatched(pg) >= REPORTS
        await asyncio.sleep(0.3)
        assert received == []
        # ... when a replica starts, its dispatcher publishes the backlog, and B delivers it
        async with instance(pg, **SLOW_POLL):
            await asyncio.wait_for(listener, 10)
        assert progress(received) == sent


@postgresql_only
async def test_lost_listen_connection_reconnects_and_catches_up(
    clean: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    pg = clean
    async with instance(pg, **SLOW_POLL) as a, instance(pg, **SLOW_POLL) as b:
        pid, job_id = await a_job(pg)
        received: list[dict[str, Any]] = []
        listener = listen(b, pid, job_id, REPORTS, received)
        await subscribed(b)
        broker = b.live.broker
        assert isinstance(broker, PostgresBroker)
        before = broker.reconnects
        # when B's LISTEN connection dies while A commits and notifies
        broker.drop_connection()
        sent = await reports(a, job_id)
        # then B reconnects, reads the outbox from where it was, and loses nothing
        await asyncio.wait_for(listener, 10)
        assert progress(received) == sent
        assert broker.reconnects > before
        # and the operator can see both in the log
        said = [r.getMessage() for r in caplog.records if r.name == "mlgraph.live"]
        assert any("LISTEN connection lost" in line for line in said), said
        assert any("LISTEN connection re-established" in line for line in said), said
