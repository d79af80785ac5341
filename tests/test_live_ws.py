"""Subscriptions over WebSocket with the gql client, both protocols, on a real uvicorn server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Backend, truncate
from tests.live import (
    JOB_UPDATED,
    PROTOCOLS,
    Instance,
    collect,
    instance,
    subscribed,
    ws_client,
)

NODES = [{"id": "train", "kind": "train"}]


@pytest.fixture(scope="module")
async def server(backend: Backend) -> AsyncIterator[Instance]:
    async with instance(backend) as inst:
        yield inst


@pytest.fixture
async def app(server: Instance) -> Instance:
    await truncate(server.backend)
    await server.reset()
    return server


async def project_with_job(app: Instance, slug: str = "fraud") -> tuple[str, str]:
    p = await app.mutate("createProject", {"slug": slug, "name": slug}, "project { id }")
    pid = p["project"]["id"]
    pl = await app.mutate(
        "createPipeline", {"projectId": pid, "name": "train", "nodes": NODES}, "pipeline { id }"
    )
    job = await app.mutate("startPipelineRun", {"pipelineId": pl["pipeline"]["id"]}, "job { id }")
    return pid, job["job"]["id"]


async def report(app: Instance, job_id: str, **fields: Any) -> None:
    await app.mutate("updateJob", {"jobId": job_id, **fields}, "job { id }")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_job_updates_arrive_in_order_with_cursors(app: Instance, protocol: str) -> None:
    # given a job and a dashboard subscribed to it
    pid, job_id = await project_with_job(app)
    received: list[dict[str, Any]] = []
    listener = asyncio.create_task(
        collect(ws_client(app, protocol), JOB_UPDATED, {"p": pid, "j": job_id}, 3, received)
    )
    await subscribed(app)
    # when the runner reports progress three times
    await report(app, job_id, status="RUNNING", progress=0.1)
    await report(app, job_id, progress=0.5)
    await report(app, job_id, status="SUCCEEDED", progress=1.0)
    await asyncio.wait_for(listener, 10)
    # then each report arrives once, in order, with the state it recorded
    updates = [r["jobUpdated"] for r in received]
    assert [(u["status"], u["progress"]) for u in updates] == [
        ("RUNNING", 0.1),
        ("RUNNING", 0.5),
        ("SUCCEEDED", 1.0),
    ]
    assert all(u["job"]["id"] == job_id for u in updates)
    assert len({u["eventId"] for u in updates}) == 3
    assert len({u["cursor"] for u in updates}) == 3
