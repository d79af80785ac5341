"""Subscriptions over WebSocket with the gql client, both protocols, on a real uvicorn server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mlgraph.ids import encode_global_id
from mlgraph.storage.enums import Stage
from tests import factories as f
from tests.conftest import Backend
from tests.live import (
    ALERT_FIRED,
    DEPLOYMENT_EVENTS,
    JOB_UPDATED,
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    Instance,
    collect,
    instance,
    subscribed,
    ws_client,
)

NODES = [{"id": "train", "kind": "train"}]


@pytest.fixture(scope="module")
async def server(backend: Backend) -> AsyncIterator[Instance]:
    async with instance(
        backend,
        live_auth_recheck_s=0.3,
        oidc_leeway_s=0,
        live_max_subscriptions=3,
        live_max_message_bytes=4096,
    ) as inst:
        yield inst


@pytest.fixture
async def app(server: Instance) -> Instance:
    return await server.fresh()


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


async def test_after_cursor_replays_what_a_reconnecting_client_missed(app: Instance) -> None:
    # given a dashboard that saw the first report, then disconnected
    pid, job_id = await project_with_job(app)
    first: list[dict[str, Any]] = []
    listener = asyncio.create_task(
        collect(ws_client(app, TRANSPORT_WS), JOB_UPDATED, {"p": pid, "j": job_id}, 1, first)
    )
    await subscribed(app)
    await report(app, job_id, status="RUNNING", progress=0.1)
    await asyncio.wait_for(listener, 10)
    cursor = first[0]["jobUpdated"]["cursor"]
    # when two reports are committed while it is away
    await report(app, job_id, progress=0.4)
    await report(app, job_id, progress=0.6)
    # then resubscribing after its cursor replays exactly those, then goes live
    again: list[dict[str, Any]] = []
    variables = {"p": pid, "j": job_id, "after": cursor}
    listener = asyncio.create_task(
        collect(ws_client(app, LEGACY_WS), JOB_UPDATED, variables, 3, again)
    )
    await subscribed(app)
    await report(app, job_id, progress=0.8)
    await asyncio.wait_for(listener, 10)
    assert [r["jobUpdated"]["progress"] for r in again] == [0.4, 0.6, 0.8]
    assert first[0]["jobUpdated"]["eventId"] not in {r["jobUpdated"]["eventId"] for r in again}


async def test_alert_fired_and_resolved_reach_the_project_subscriber(app: Instance) -> None:
    # given a deployment with a one-period rule and a subscriber to the project's alerts
    p = f.project()
    md = f.model(p)
    d = f.deployment(md)
    await f.save(app.backend.sessions, p, md, d)
    pid, did = encode_global_id("Project", p.id), encode_global_id("Deployment", d.id)
    rule = await app.mutate(
        "createAlertRule",
        {
            "projectId": pid,
            "name": "psi",
            "metric": "psi",
            "operator": "GT",
            "threshold": 0.2,
            "evaluationPeriods": 1,
            "severity": "WARNING",
        },
        "alertRule { id }",
    )
    received: list[dict[str, Any]] = []
    listener = asyncio.create_task(
        collect(ws_client(app, TRANSPORT_WS), ALERT_FIRED, {"p": pid}, 2, received)
    )
    await subscribed(app)
    # when drift breaches, then recovers
    for hour, score in ((0, 0.5), (1, 0.05)):
        await app.mutate(
            "recordDriftMetrics",
            {"deploymentId": did, "metrics": [drift(hour, score)]},
            "count",
        )
    await asyncio.wait_for(listener, 10)
    # then the subscriber sees the alert fire and resolve
    updates = [r["alertFired"] for r in received]
    assert [(u["topic"], u["status"]) for u in updates] == [
        ("alert.fired", "FIRING"),
        ("alert.resolved", "RESOLVED"),
    ]
    assert updates[0]["alert"]["rule"]["id"] == rule["alertRule"]["id"]
    assert updates[0]["alert"]["value"] == 0.5
    assert updates[1]["alert"]["status"] == "RESOLVED"


def drift(hour: int, score: float) -> dict[str, Any]:
    return {
        "kind": "DATA",
        "metric": "psi",
        "feature": "amount",
        "score": score,
        "threshold": 0.2,
        "windowStart": f"2026-02-01T{hour:02d}:00:00Z",
        "windowEnd": f"2026-02-01T{hour + 1:02d}:00:00Z",
    }


async def test_deployment_events_carry_the_recorded_event(app: Instance) -> None:
    p = f.project()
    md = f.model(p)
    v = f.version(md, stage=Stage.STAGING)  # traffic goes to STAGING or PRODUCTION versions
    await f.save(app.backend.sessions, p, md, v)
    pid = encode_global_id("Project", p.id)
    received: list[dict[str, Any]] = []
    listener = asyncio.create_task(
        collect(ws_client(app, LEGACY_WS), DEPLOYMENT_EVENTS, {"p": pid}, 1, received)
    )
    await subscribed(app)
    created = await app.mutate(
        "createDeployment",
        {
            "modelId": encode_global_id("Model", md.id),
            "versionId": encode_global_id("ModelVersion", v.id),
            "name": "fraud-prod",
            "environment": "PRODUCTION",
            "strategy": "CANARY",
        },
        "deployment { id }",
    )
    await asyncio.wait_for(listener, 10)
    [update] = [r["deploymentEvents"] for r in received]
    assert update["kind"] == "CREATED"
    assert update["deployment"] == {"id": created["deployment"]["id"], "name": "fraud-prod"}
    assert update["event"]["kind"] == "CREATED"


async def test_subscribers_of_one_selection_share_the_event_read(app: Instance) -> None:
    # given three dashboards of one admin subscribed to the same job with the same selection
    pid, job_id = await project_with_job(app)
    received: list[list[dict[str, Any]]] = [[], [], []]
    listeners = [
        asyncio.create_task(
            collect(ws_client(app, TRANSPORT_WS), JOB_UPDATED, {"p": pid, "j": job_id}, 1, into)
        )
        for into in received
    ]
    await subscribed(app, 3)
    hub = app.live.hub
    computed, shared, written = hub.renders.computed, hub.renders.shared, hub.written
    # when the runner reports once
    await report(app, job_id, status="RUNNING", progress=0.25)
    await asyncio.wait_for(asyncio.gather(*listeners), 10)
    # then all three see the job as it is now: executed once, its `next` payload encoded
    # once, and written by the hub to all three sockets
    assert [r[0]["jobUpdated"]["job"] for r in received] == [
        {"id": job_id, "status": "RUNNING"}
    ] * 3
    assert (hub.renders.computed - computed, hub.renders.shared - shared) == (2, 0)
    assert hub.written - written == 3
