"""The README's "Live updates" examples run: the GraphiQL subscription over WebSocket, and the
curl SSE example's document over server-sent events."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from gql import GraphQLRequest

from mlgraph.ids import encode_global_id
from tests import factories as f
from tests.conftest import Backend, truncate
from tests.live import TRANSPORT_WS, instance, sse_events, subscribed, ws_client

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
LIVE = README.partition("## Live updates")[2].partition("\n## ")[0]
[SUBSCRIPTION] = re.findall(r"```graphql\n(.*?)```", LIVE, flags=re.S)
[SSE_QUERY] = re.findall(r'"query": "(.*?)"', LIVE)


async def test_readme_live_examples_run(backend: Backend) -> None:
    await truncate(backend)
    p = f.project()
    md = f.model(p)
    d = f.deployment(md)
    pl = f.pipeline(p)
    j = f.job(pl)
    await f.save(backend.sessions, p, md, d, pl, j)
    pid, job_id = encode_global_id("Project", p.id), encode_global_id("Job", j.id)
    async with instance(backend) as app:
        received: list[dict[str, Any]] = []
        frames: list[tuple[str, Any]] = []

        async def watch() -> None:
            async with ws_client(app, TRANSPORT_WS) as session:
                request = GraphQLRequest(SUBSCRIPTION, variable_values={"projectId": pid})
                async for result in session.subscribe(request):
                    received.append(result)
                    return

        watcher = asyncio.create_task(watch())
        reader = asyncio.create_task(sse_events(app.client, SSE_QUERY, {"p": pid}, 1, frames))
        await subscribed(app, 2)
        await app.mutate("updateJob", {"jobId": job_id, "status": "RUNNING"}, "job { id }")
        await app.mutate(
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
        drift = {
            "kind": "DATA",
            "metric": "psi",
            "feature": "amount",
            "score": 0.4,
            "threshold": 0.2,
            "windowStart": "2026-02-01T00:00:00Z",
            "windowEnd": "2026-02-01T01:00:00Z",
        }
        await app.mutate(
            "recordDriftMetrics",
            {"deploymentId": encode_global_id("Deployment", d.id), "metrics": [drift]},
            "count",
        )
        await asyncio.wait_for(asyncio.gather(watcher, reader), 10)
    update = received[0]["jobUpdated"]
    assert (update["status"], update["job"]["id"], update["topic"]) == (
        "RUNNING",
        job_id,
        "job.updated",
    )
    assert update["job"]["pipeline"]["name"] == pl.name
    [(event, data)] = frames
    assert event == "next"
    assert data["data"]["alertFired"]["status"] == "FIRING"
    assert "psi" in data["data"]["alertFired"]["alert"]["message"]
