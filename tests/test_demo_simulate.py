"""`mlgraph demo simulate`: the simulated runner drives the demo data, and a subscriber sees it."""

from __future__ import annotations

import asyncio
from typing import Any

from gql import GraphQLRequest

from mlgraph.demo import simulate
from mlgraph.seed import seed_demo
from tests.conftest import ADMIN, Backend, truncate
from tests.live import TRANSPORT_WS, instance, subscribed, ws_client

PROJECT_JOBS = "subscription($p: ID!) { jobUpdated(projectId: $p) { status job { id } } }"


async def test_simulated_runner_moves_jobs_that_subscribers_see(backend: Backend) -> None:
    await truncate(backend)
    await seed_demo(backend.sessions, projects=3)
    async with instance(backend) as app:
        await app.reset()
        projects = await app.data("{ projects(first: 3) { nodes { id } } }")
        received: list[dict[str, Any]] = []

        async def watch() -> None:
            async with ws_client(app, TRANSPORT_WS) as session:
                streams = [
                    session.subscribe(GraphQLRequest(PROJECT_JOBS, variable_values={"p": p["id"]}))
                    for p in projects["projects"]["nodes"]
                ]

                async def drain(stream: Any) -> None:
                    async for result in stream:
                        received.append(result)

                await asyncio.gather(*(drain(s) for s in streams))

        watcher = asyncio.create_task(watch())
        await subscribed(app, 3)
        counts = await simulate(
            app.base_url, app.backend.headers(ADMIN, admin=True), interval_s=0, ticks=8, seed=3
        )
        assert counts["started"] > 0
        assert counts["updated"] > 0
        await asyncio.sleep(0.5)
        watcher.cancel()
        statuses = {r["jobUpdated"]["status"] for r in received}
        assert len(received) >= counts["started"] + counts["updated"]
        assert "RUNNING" in statuses
