"""Rate limits per principal in cost points, over real HTTP, on a fake clock: 429 with
Retry-After and the x-ratelimit-* headers, the budget shared by two replicas on PostgreSQL
(in-process on SQLite), refill over time, and the cap on requests in flight."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypedDict

import httpx
import pytest
from sqlalchemy import text

from mlgraph.app import create_app
from mlgraph.demo import simulate
from mlgraph.ratelimit import MemoryBuckets, Rate, RateLimiter
from mlgraph.ratelimit.buckets import Taken
from mlgraph.seed import seed_demo
from tests.conftest import Backend, serve, stop
from tests.readme import bash, shell_block

VIEWER = "{ viewer { principalId } }"  # one point, no SQL
PLAN = {"postgresql": "compiled", "sqlite": "resolver"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def replica(
    backend: Backend,
    clock: Callable[[], float],
    subject: str,
    *,
    admin: bool = False,
    **settings: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """One more app instance on the backend's database, as ``subject``."""
    changed = backend.settings.model_copy(update=settings)
    server, task, url = await serve(create_app(changed, engine=backend.engine, clock=clock))
    try:
        async with httpx.AsyncClient(
            base_url=url, headers=backend.headers(subject, admin=admin), timeout=30
        ) as client:
            yield client
    finally:
        await stop(server, task)


class RateLimits(TypedDict, total=False):
    """The settings these tests change (each a keyword of :func:`replica`)."""

    rate_limit_points: int
    rate_limit_period_s: float
    rate_limit_chunk_points: int


def someone() -> str:
    """A principal of its own: buckets are per principal, shared by every test's apps."""
    return f"rate-{uuid.uuid4().hex[:8]}@example.com"


async def test_over_the_budget_429_with_retry_after_until_it_refills(backend: Backend) -> None:
    # Given 10 points per 100 s (one point refills every 10 s)
    clock = FakeClock()
    limits: RateLimits = {"rate_limit_points": 10, "rate_limit_period_s": 100}
    async with replica(backend, clock, someone(), **limits) as client:
        spent = [await client.post("/graphql", json={"query": VIEWER}) for _ in range(10)]
        backend.sql.start()
        refused = await client.post("/graphql", json={"query": VIEWER})
        statements = backend.sql.stop()
        read = list(backend.sql.statements)
        spec = await client.post(
            "/graphql",
            json={"query": VIEWER},
            headers={"accept": "application/graphql-response+json"},
        )
        clock.now += 9
        still = await client.post("/graphql", json={"query": VIEWER})
        clock.now += 1
        again = await client.post("/graphql", json={"query": VIEWER})
    # Then each response says what is left; the 11th is refused before it runs
    assert [r.status_code for r in spent] == [200] * 10
    # (the compiled path answers on PostgreSQL: the charge does not depend on the path)
    assert spent[0].headers["x-mlgraph-plan"] == PLAN[backend.name]
    assert [int(r.headers["x-ratelimit-remaining"]) for r in spent] == list(range(9, -1, -1))
    assert {r.headers["x-ratelimit-limit"] for r in spent} == {"10"}
    assert [int(r.headers["x-ratelimit-used"]) for r in spent] == list(range(1, 11))
    assert int(spent[-1].headers["x-ratelimit-reset"]) == clock.now - 10 + 100
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    body = refused.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
    assert body["errors"][0]["extensions"]["retryAfter"] == 10
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1
    # nothing ran but authentication's read of the principal's project roles
    assert statements == len([r for r in read if "FROM project_member" in r]) <= 1
    # GraphQL over HTTP's media type: still 429 (not 400, though nothing was executed)
    assert (spec.status_code, spec.headers["retry-after"]) == (429, "10")
    # 9 s later still nothing; at 10 s one point is back
    assert (still.status_code, still.headers["retry-after"]) == (429, "1")
    assert again.status_code == 200
    assert again.json()["data"]["viewer"]["principalId"]
    assert again.headers["x-ratelimit-remaining"] == "0"


async def test_expensive_operations_cost_more_points(backend: Backend) -> None:
    clock = FakeClock()
    # 1 + 100 + 100*40 fetches: 41 points
    query = """{ projects(first: 100) { nodes { pipelines(first: 40) { nodes {
        runs(first: 1) { nodes { id } } } } } } }"""
    async with replica(backend, clock, someone(), rate_limit_points=100) as client:
        first = await client.post("/graphql", json={"query": query})
        second = await client.post("/graphql", json={"query": query})
        third = await client.post("/graphql", json={"query": query})
    assert first.json()["extensions"]["cost"]["requestedQueryCost"] == 41
    assert [r.status_code for r in (first, second, third)] == [200, 200, 429]
    assert third.headers["x-ratelimit-remaining"] == "18"


async def test_two_replicas_share_one_budget_on_postgresql(backend: Backend) -> None:
    # Given two app instances on one database, 10 points, replicas reserving 3 at a time
    clock = FakeClock()
    subject = someone()
    limits: RateLimits = {
        "rate_limit_points": 10,
        "rate_limit_period_s": 100,
        "rate_limit_chunk_points": 3,
    }
    async with (
        replica(backend, clock, subject, **limits) as a,
        replica(backend, clock, subject, **limits) as b,
    ):
        # When requests alternate between them until both refuse
        codes = [
            (await client.post("/graphql", json={"query": VIEWER})).status_code
            for _ in range(15)
            for client in (a, b)
        ]
        clock.now += 100  # a whole period: the budget is whole again
        # and when 30 requests arrive at once, 15 at each
        burst = await asyncio.gather(
            *(c.post("/graphql", json={"query": VIEWER}) for _ in range(15) for c in (a, b))
        )
    # Then on PostgreSQL they spend one budget of 10 between them; on SQLite (one process per
    # database by design) each replica has its own
    assert codes.count(200) == (10 if backend.name == "postgresql" else 20)
    assert codes[-10:] == [429] * 10
    assert 200 in codes[0::2]  # both replicas served
    assert 200 in codes[1::2]
    # the row lock holds under concurrency too
    assert [r.status_code for r in burst].count(200) == codes.count(200)
    if backend.name == "postgresql":
        async with backend.engine.connect() as conn:
            stored = await conn.execute(
                text("SELECT tat FROM rate_limit_bucket WHERE principal_id = :p"), {"p": subject}
            )
            tat = stored.scalar_one()
        # one row, spent whole: full again a period from now
        assert tat == pytest.approx(clock.now + 100)


async def test_a_stopping_replica_gives_its_unspent_reserve_back(backend: Backend) -> None:
    # Given a replica that reserved 5 points (10 per 100 s) and spent 1
    clock = FakeClock()
    subject = someone()
    limits: RateLimits = {
        "rate_limit_points": 10,
        "rate_limit_period_s": 100,
        "rate_limit_chunk_points": 5,
    }
    async with replica(backend, clock, subject, **limits) as client:
        response = await client.post("/graphql", json={"query": VIEWER})
        assert response.headers["x-ratelimit-remaining"] == "9"
    # When it stops, the shared bucket holds only the point spent (on SQLite: no shared row)
    async with backend.engine.connect() as conn:
        stored = await conn.execute(
            text("SELECT tat FROM rate_limit_bucket WHERE principal_id = :p"), {"p": subject}
        )
        tats = stored.scalars().all()
    assert tats == ([pytest.approx(clock.now + 10)] if backend.name == "postgresql" else [])


async def test_requests_in_flight_are_capped_per_principal(backend: Backend) -> None:
    # Given a cap of 2 requests in flight, and two requests whose bodies have not arrived
    clock = FakeClock()
    subject = someone()
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        await release.wait()
        yield b'{"query": "{ viewer { principalId } }"}'

    async with replica(backend, clock, subject, rate_limit_concurrency=2) as client:
        headers = {"content-type": "application/json"}
        slow = [
            asyncio.create_task(client.post("/graphql", content=slow_body(), headers=headers))
            for _ in range(2)
        ]
        await asyncio.sleep(0.3)  # both are in the server, waiting for their bodies
        refused = await client.post("/graphql", json={"query": VIEWER})
        release.set()
        done = await asyncio.gather(*slow)
        after = await client.post("/graphql", json={"query": VIEWER})
    # Then a third is refused at once, and once they finish there is room again
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "x-ratelimit-remaining" in refused.headers
    assert [r.status_code for r in done] == [200, 200]
    assert after.status_code == 200


async def test_the_demo_simulator_waits_out_its_rate_limit(db: Backend) -> None:
    # Given the demo data and a budget of 3 points refilling in 1.5 s (on the wall clock)
    await seed_demo(db.sessions, projects=1)
    limits: RateLimits = {"rate_limit_points": 3, "rate_limit_period_s": 1.5}
    lines: list[str] = []
    async with replica(db, time.time, someone(), admin=True, **limits) as client:
        # When the simulator runs a few steps as fast as it may (seeded: its first step starts
        # a run; unseeded, 3 steps did nothing at all about once in 125 runs)
        counts = await simulate(
            str(client.base_url),
            dict(client.headers),
            interval_s=0,
            ticks=3,
            seed=1,
            report=lines.append,
        )
    # Then it was refused (429), waited as Retry-After said, and still did its steps
    assert any("rate limited: waiting" in line for line in lines)
    assert counts["started"] + counts["updated"] + counts["drift"] > 0


CURL = shell_block("maximumNodeCount")  # README "Cost and rate limits"


async def test_the_readme_curl_example_shows_the_headers_and_the_cost(db: Backend) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGRAPH_")}
    env |= {"MLGRAPH_URL": db.base_url, "MLGRAPH_DATA_DIR": str(db.settings.data_dir)}
    done = await bash(CURL, env, limit_s=60)
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
    names = {line.split(":")[0].lower() for line in head.splitlines()[1:]}
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used"} <= names
    assert "x-ratelimit-reset" in names
    cost = json.loads(body)["extensions"]["cost"]
    assert cost == {"requestedQueryCost": 1, "nodeCount": 60, "maximumNodeCount": 500_000}
    assert '"requestedQueryCost":1,"nodeCount":60,"maximumNodeCount":500000' in CURL


class SlowBuckets(MemoryBuckets):
    """In-process buckets whose takes take a while, as a database round trip does; counted."""

    takes = 0

    async def take(self, key: str, now: float, need: float, want: float) -> Taken:
        self.takes += 1
        await asyncio.sleep(0.01)
        return await super().take(key, now, need, want)


async def test_requests_short_of_points_together_wait_for_one_take() -> None:
    # Given a replica reserving 10 points at a time, and 20 requests arriving at once
    rate = Rate(100, 100)
    buckets = SlowBuckets(rate)
    limiter = RateLimiter(buckets, rate, chunk=10, clock=FakeClock())
    spent = await asyncio.gather(*(limiter.charge("p", 1) for _ in range(20)))
    # Then all pass on two takes (not twenty), and the budget says 20 are spent
    assert [s.refused for s in spent] == [False] * 20
    assert buckets.takes == 2
    assert limiter.status("p").remaining == 80
