"""Each subscription event runs with its own context: the subscriber's rights as of that event,
fresh loaders, a fresh object-store cache. Two subscriptions on one socket never share them.

One WebSocket of a viewer of two projects carries two subscriptions at once: deployment events
of ``alpha`` (reading a drift report from the object store) and job updates of ``beta``.
Events of both arrive interleaved; each shows its own project, and the report as it is in the
store when the event is pushed. When the viewer loses ``beta``, only that subscription ends.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import DriftKind, Role, Stage
from mlgraph.storage.objects import open_store
from mlgraph.storage.objects.keys import drift_report_key
from tests import factories as f
from tests.conftest import Backend
from tests.live import TRANSPORT_WS, Instance, instance, subscribed, until, ws_client

VIEWER = "viewer-of-two@example.com"
DEPLOYMENTS = """subscription($p: ID!) { deploymentEvents(projectId: $p) {
  kind deployment { name project { slug }
    driftMetrics(first: 1) { nodes { report } } } } }"""
JOBS = """subscription($p: ID!) { jobUpdated(projectId: $p) {
  status progress job { status pipeline { name project { slug } } } } }"""


@pytest.fixture(scope="module")
async def server(backend: Backend) -> AsyncIterator[Instance]:
    async with instance(backend, live_auth_recheck_s=30) as inst:
        yield inst


async def _rows(db: Backend) -> dict[str, Any]:
    """alpha: a deployment of two STAGING versions with a drift report; beta: a queued job."""
    alpha, beta = f.project(slug="alpha"), f.project(slug="beta")
    mdl = f.model(alpha)
    v1, v2 = f.version(mdl, stage=Stage.STAGING), f.version(mdl, stage=Stage.STAGING)
    dep = f.deployment(mdl, name="alpha-dep")
    key = drift_report_key(alpha.id, dep.id, "r.json")
    start = f.tick()
    metric = m.DriftMetric(
        id=uuid.uuid4(),
        project_id=alpha.id,
        deployment_id=dep.id,
        kind=DriftKind.DATA,
        metric="psi",
        feature="age",
        score=0.1,
        threshold=0.2,
        detected=False,
        window_start=start,
        window_end=start + timedelta(hours=1),
        report_key=key,
    )
    pl = f.pipeline(beta, name="beta-pipeline")
    job = f.job(pl)
    members = [
        m.ProjectMember(project_id=p.id, principal_id=VIEWER, role=Role.VIEWER)
        for p in (alpha, beta)
    ]
    await f.save(db.sessions, alpha, beta, mdl, v1, v2, dep, metric, pl, job, *members)
    return {
        "alpha": encode_global_id("Project", alpha.id),
        "beta": encode_global_id("Project", beta.id),
        "deployment": encode_global_id("Deployment", dep.id),
        "versions": [encode_global_id("ModelVersion", v.id) for v in (v1, v2)],
        "job": encode_global_id("Job", job.id),
        "report": key,
    }


async def _listen(session: Any, query: str, project: str, into: list[Any]) -> None:
    try:
        async for result in session.subscribe(
            GraphQLRequest(query, variable_values={"p": project})
        ):
            into.append(result)
    except TransportQueryError as refused:
        into.append(refused.errors)


async def test_two_subscriptions_on_one_socket_each_read_with_their_own_context(
    server: Instance,
) -> None:
    app = await server.fresh()
    ids = await _rows(app.backend)
    deployments: list[Any] = []
    jobs: list[Any] = []
    async with open_store(app.settings) as store:
        async with ws_client(app, TRANSPORT_WS, token=app.backend.token(VIEWER)) as session:
            listeners = [
                asyncio.create_task(_listen(session, DEPLOYMENTS, ids["alpha"], deployments)),
                asyncio.create_task(_listen(session, JOBS, ids["beta"], jobs)),
            ]
            await subscribed(app, 2)
            await app.mutate("updateJob", {"jobId": ids["job"], "status": "RUNNING"}, "job { id }")
            for n in range(1, 4):
                # when the report changes in the store and both projects change at once
                await store.put(
                    ids["report"], json.dumps({"round": n}).encode(), "application/json"
                )
                split = [{"versionId": ids["versions"][n % 2], "percent": 100}]
                await asyncio.gather(
                    app.mutate(
                        "shiftTraffic",
                        {"deploymentId": ids["deployment"], "splits": split},
                        "deployment { id }",
                    ),
                    app.mutate(
                        "updateJob", {"jobId": ids["job"], "progress": n / 10}, "job { id }"
                    ),
                )
                await until(lambda n=n: len(deployments) >= n and len(jobs) >= n + 1)
            # then each event shows its own project, and the report as it was when pushed
            assert [d["deploymentEvents"]["deployment"] for d in deployments] == [
                {
                    "name": "alpha-dep",
                    "project": {"slug": "alpha"},
                    "driftMetrics": {"nodes": [{"report": {"round": n}}]},
                }
                for n in (1, 2, 3)
            ]
            assert [j["jobUpdated"]["job"]["pipeline"] for j in jobs] == [
                {"name": "beta-pipeline", "project": {"slug": "beta"}}
            ] * 4
            assert [j["jobUpdated"]["progress"] for j in jobs] == [0.0, 0.1, 0.2, 0.3]
            # when the viewer loses beta, its subscription ends and alpha's goes on
            await app.mutate(
                "removeProjectMember",
                {"projectId": ids["beta"], "principalId": VIEWER},
                "project { id }",
            )
            await app.mutate("updateJob", {"jobId": ids["job"], "progress": 0.5}, "job { id }")
            await asyncio.wait_for(listeners[1], 10)
            assert jobs[-1][0]["extensions"]["code"] == "FORBIDDEN"
            split = [{"versionId": ids["versions"][0], "percent": 100}]
            await app.mutate(
                "shiftTraffic",
                {"deploymentId": ids["deployment"], "splits": split},
                "deployment { id }",
            )
            await until(lambda: len(deployments) == 4)
            assert deployments[-1]["deploymentEvents"]["deployment"]["project"] == {"slug": "alpha"}
            listeners[0].cancel()
