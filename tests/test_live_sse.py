"""GraphQL over server-sent events, read with httpx streaming from a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mlgraph.ids import encode_global_id
from tests import factories as f
from tests.conftest import Backend
from tests.live import JOB_UPDATED, Instance, instance, sse_events, subscribed


@pytest.fixture(scope="module")
async def server(backend: Backend) -> AsyncIterator[Instance]:
    async with instance(backend, oidc_leeway_s=0) as inst:
        yield inst


@pytest.fixture
async def app(server: Instance) -> Instance:
    return await server.fresh()


async def a_job(app: Instance) -> tuple[str, str]:
    p = f.project()
    pl = f.pipeline(p)
    j = f.job(pl)
    await f.save(app.backend.sessions, p, pl, j)
    return encode_global_id("Project", p.id), encode_global_id("Job", j.id)


async def test_job_updates_stream_as_server_sent_events(app: Instance) -> None:
    pid, job_id = await a_job(app)
    frames: list[tuple[str, Any]] = []
    reader = asyncio.create_task(
        sse_events(app.client, JOB_UPDATED, {"p": pid, "j": job_id}, 2, frames)
    )
    await subscribed(app)
    await app.mutate("updateJob", {"jobId": job_id, "status": "RUNNING"}, "job { id }")
    await app.mutate("updateJob", {"jobId": job_id, "progress": 0.5}, "job { id }")
    assert await asyncio.wait_for(reader, 10) == 200
    assert [event for event, _ in frames] == ["next", "next"]
    updates = [data["data"]["jobUpdated"] for _, data in frames]
    assert [(u["status"], u["progress"]) for u in updates] == [("RUNNING", 0.0), ("RUNNING", 0.5)]
    # resuming after the first cursor replays the second, over a new stream
    again: list[tuple[str, Any]] = []
    variables = {"p": pid, "j": job_id, "after": updates[0]["cursor"]}
    await asyncio.wait_for(sse_events(app.client, JOB_UPDATED, variables, 1, again), 10)
    assert again[0][1]["data"]["jobUpdated"]["eventId"] == updates[1]["eventId"]


async def test_bad_requests_get_coded_errors(app: Instance) -> None:
    pid, _ = await a_job(app)
    # no credentials: 401 before anything runs
    frames: list[tuple[str, Any]] = []
    status = await sse_events(
        app.client, JOB_UPDATED, {"p": pid}, 1, frames, headers={"Authorization": ""}
    )
    assert status == 401
    # a body that is not JSON: 400, as for any GraphQL request
    response = await app.client.post(
        "/graphql",
        content=b"{nope",
        headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    # a query that does not validate, and a project one cannot see: an error, then complete
    for query, variables, code in (
        ("subscription { nope }", {}, "BAD_USER_INPUT"),
        (JOB_UPDATED, {"p": "bm9wZQ=="}, "BAD_USER_INPUT"),
    ):
        frames = []
        assert await sse_events(app.client, query, variables, 2, frames) == 200
        assert [event for event, _ in frames] == ["next", "complete"]
        assert frames[0][1]["errors"][0]["extensions"]["code"] == code


async def test_expired_token_ends_the_stream(app: Instance) -> None:
    from mlgraph.auth.local_issuer import issue_token

    pid, job_id = await a_job(app)
    # valid when the stream opens, even on a loaded machine (1 s once expired before that)
    token = issue_token(app.settings, subject="admin@example.com", roles=["mlgraph-admin"], ttl_s=3)
    frames: list[tuple[str, Any]] = []
    status = await asyncio.wait_for(
        sse_events(
            app.client,
            JOB_UPDATED,
            {"p": pid, "j": job_id},
            5,
            frames,
            headers={"Authorization": f"Bearer {token}"},
        ),
        10,
    )
    assert status == 200
    assert [event for event, _ in frames] == ["next", "complete"]
    assert frames[0][1]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_eventsource_style_get_streams_too(app: Instance) -> None:
    pid, job_id = await a_job(app)
    params = {"query": JOB_UPDATED, "variables": json.dumps({"p": pid, "j": job_id})}

    async def first_frame() -> str:
        headers = {"Accept": "text/event-stream"}
        async with app.client.stream("GET", "/graphql", params=params, headers=headers) as r:
            assert r.status_code == 200, await r.aread()
            async for line in r.aiter_lines():
                if line.startswith("data:") and "jobUpdated" in line:
                    return line
        return ""

    reader = asyncio.create_task(first_frame())
    await subscribed(app)
    await app.mutate("updateJob", {"jobId": job_id, "status": "RUNNING"}, "job { id }")
    frame = await asyncio.wait_for(reader, 10)
    assert json.loads(frame.removeprefix("data:"))["data"]["jobUpdated"]["status"] == "RUNNING"
