"""The federated topology end to end: the subgraphs of ``federation/subgraphs.json`` as their own
uvicorn processes, Hive Gateway on the composed supergraph, PostgreSQL with the demo data. The
gateway answers what the combined process answers, writes through to one audit entry, carries
subscriptions, and keeps each principal to their projects."""

from __future__ import annotations

import dataclasses
import itertools
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from mlgraph.auth import api_keys
from mlgraph.federated.compose import compose
from mlgraph.federated.launcher import start_gateway, stop, wait_healthy
from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import JobStatus, Role, Stage
from mlgraph.storage.graph import ENTITIES
from tests import factories as f
from tests.conftest import free_port
from tests.federation_support import (
    ADMIN,
    Topology,
    combined_graph,
    node_queries,
    post,
    relay,
    subscribe,
    topology,
)
from tests.live import JOB_UPDATED

VIEWER = "viewer@example.com"


@pytest.fixture(scope="module")
async def fed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Topology]:
    async with topology(tmp_path_factory.mktemp("federation")) as running:
        await f.api_keys_for_all_projects(running.sessions)
        yield running


async def both(
    fed: Topology, query: str, variables: dict[str, Any] | None, headers: dict[str, str]
) -> dict[str, Any]:
    """The gateway's answer, asserted equal to the combined process's."""
    through = await post(fed.gateway_url, query, variables, headers)
    direct = await post(fed.combined_url, query, variables, headers)
    assert through == direct
    return through


async def test_dashboard_through_the_gateway_is_the_combined_answer(
    fed: Topology, dashboard_query: str
) -> None:
    body = await both(fed, dashboard_query, None, fed.headers())
    assert "errors" not in body, body["errors"]
    assert body["data"]["projects"]["totalCount"] == 6
    assert all(p["models"]["nodes"] for p in body["data"]["projects"]["nodes"])


async def test_node_of_every_type_through_the_gateway(fed: Topology) -> None:
    queries = node_queries(combined_graph())
    types = [name for _, names in queries for name in names]
    assert set(types) == set(ENTITIES)  # every declared entity
    ids = {}
    async with fed.sessions() as s:
        for i, name in enumerate(types):
            table = ENTITIES[name].table.name
            pk = await s.scalar(text(f"SELECT id FROM {table} ORDER BY id LIMIT 1"))  # noqa: S608 - names from the declaration
            assert pk is not None, f"no {name} in the demo data"
            ids[f"t{i}"] = encode_global_id(name, uuid.UUID(str(pk)))
    answered = []
    for query, _names in queries:
        asked = {k: v for k, v in ids.items() if f"${k}:" in query}
        body = await both(fed, query, asked, fed.headers())
        assert "errors" not in body, body["errors"]
        answered += [body["data"][k]["__typename"] for k in asked]
    assert answered == types


REGISTER = """
mutation($input: RegisterModelInput!) {
  registerModel(input: $input) { model { id name } userErrors { code } }
}"""
AUDIT_OF = """
query($id: ID!) {
  auditEntries(first: 5, filter: {entityId: $id}) {
    totalCount nodes { action actor entity { id } }
  }
}"""


async def _audit_count(fed: Topology) -> int:
    async with fed.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(m.AuditEntry)) or 0)


async def _project_id(fed: Topology, slug: str) -> str:
    body = await post(
        fed.gateway_url,
        "query($s: String!) { project(slug: $s) { id } }",
        {"s": slug},
        fed.headers(),
    )
    return str(body["data"]["project"]["id"])


async def test_a_mutation_through_the_gateway_writes_one_audit_entry(fed: Topology) -> None:
    project = await _project_id(fed, "fraud-detection")
    before = await _audit_count(fed)
    headers = fed.headers() | {"Idempotency-Key": str(uuid.uuid4())}
    variables = {"input": {"projectId": project, "name": "via-gateway", "riskTier": "LOW"}}
    first = await post(fed.gateway_url, REGISTER, variables, headers)
    retry = await post(fed.gateway_url, REGISTER, variables, headers)  # a runner retrying
    assert first["data"]["registerModel"]["userErrors"] == []
    assert retry == first
    assert await _audit_count(fed) == before + 1
    model = first["data"]["registerModel"]["model"]["id"]
    audit = (await both(fed, AUDIT_OF, {"id": model}, fed.headers()))["data"]["auditEntries"]
    assert audit["totalCount"] == 1
    assert audit["nodes"][0]["actor"] == ADMIN
    assert audit["nodes"][0]["entity"] == {"id": model}


_PROBE_PROGRESS = itertools.count(1)  # a job's progress never goes back: one counter per run
UPDATE_JOB = """
mutation($input: UpdateJobInput!) {
  updateJob(input: $input) { job { id status } userErrors { code } }
}"""


async def _open_jobs(fed: Topology) -> tuple[str, str, str]:
    """A project and two of its jobs that can still move: (project, probe job, job)."""
    async with fed.sessions() as s:
        rows = (
            await s.execute(
                select(m.Job.project_id, m.Job.id)
                .where(m.Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                .order_by(m.Job.project_id, m.Job.id)
            )
        ).all()
    by_project: dict[uuid.UUID, list[uuid.UUID]] = {}
    for pid, jid in rows:
        by_project.setdefault(pid, []).append(jid)
    pid, jobs = next((p, j) for p, j in by_project.items() if len(j) >= 2)
    async with fed.sessions() as s, s.begin():  # progress only grows: start both from zero
        await s.execute(update(m.Job).where(m.Job.id.in_(jobs[:2])).values(progress=0.0))
    return (encode_global_id("Project", pid), *(encode_global_id("Job", j) for j in jobs[:2]))  # type: ignore[return-value]


async def _update_job(url: str, job: str, progress: float, headers: dict[str, str]) -> None:
    variables = {"input": {"jobId": job, "status": "RUNNING", "progress": progress}}
    body = await post(url, UPDATE_JOB, variables, headers)
    assert body["data"]["updateJob"]["userErrors"] == [], body


@asynccontextmanager
async def gateway_for(fed: Topology, transport: str, log: Path) -> AsyncIterator[str]:
    """The topology's gateway (``ws``), or a second one on its supergraph that reaches the
    subgraphs' subscriptions over server-sent events (``sse``). Yields its GraphQL URL."""
    if transport == "ws":
        yield fed.gateway_url
        return
    env = {"GATEWAY_SUBSCRIPTIONS": transport, "PATH": os.environ.get("PATH", "")}
    gateway = start_gateway(fed.layout, fed.running.supergraph, free_port(), env, log)
    try:
        await wait_healthy(gateway, lambda _: None)
        yield gateway.health_url.replace("/readiness", "/graphql")
    finally:
        await stop(gateway)


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_job_updated_subscription_through_the_gateway(
    fed: Topology, transport: str, tmp_path: Path
) -> None:
    """A client subscribes over the gateway's WebSocket; the gateway reaches the subgraph
    over graphql-transport-ws or server-sent events; both carry the event."""
    project, probe, job = await _open_jobs(fed)
    headers = fed.headers()
    async with gateway_for(fed, transport, tmp_path / "gateway.log") as url:
        ws_url = url.replace("http://", "ws://")
        async with subscribe(ws_url, JOB_UPDATED, {"p": project}, headers) as events:
            # The gateway opens its own stream to the subgraph: report on a probe job until
            # its events arrive, so the subscription is live before the real mutation.
            for _ in range(20):
                await _update_job(url, probe, next(_PROBE_PROGRESS) / 1000, headers)
                try:
                    await events.next(within_s=0.5)
                    break
                except TimeoutError:
                    continue
            else:
                pytest.fail(f"no jobUpdated event reached the gateway's subscriber ({transport})")
            await _update_job(url, job, 0.42, headers)
            while (event := (await events.next())["data"]["jobUpdated"])["job"]["id"] != job:
                pass
    assert event["status"] == "RUNNING"
    assert event["progress"] == 0.42
    assert event["job"] == {"id": job, "status": "RUNNING"}


EVERYTHING_VISIBLE = """
query($other: String!, $ids: [ID!]!) {
  projects(first: 20) { nodes { id slug } }
  other: project(slug: $other) { id }
  models(first: 100) { nodes { project { id } } }
  deployments(first: 100) { nodes { project { id } } }
  alerts(first: 100) { nodes { project { id } } }
  auditEntries(first: 100) { nodes { project { id } } }
  nodes(ids: $ids) { id }
}"""


async def _viewer_credentials(fed: Topology, slug: str) -> list[dict[str, str]]:
    """A user and an API key, each a VIEWER of project ``slug`` only."""
    async with fed.sessions() as s:
        pid = await s.scalar(select(m.Project.id).where(m.Project.slug == slug))
    assert pid is not None
    key = api_keys.generate()
    await f.save(
        fed.sessions,
        m.ProjectMember(id=uuid.uuid4(), project_id=pid, principal_id=VIEWER, role=Role.VIEWER),
        f.api_key(pid, prefix=key.prefix, secret_hash=key.secret_hash, role=Role.VIEWER),
    )
    return [fed.headers(VIEWER, admin=False), {"X-Api-Key": key.plaintext}]


async def _ids_of(fed: Topology, slug: str) -> list[str]:
    query = """query($s: String!) { project(slug: $s) { id
      models(first: 1) { nodes { id } } deployments(first: 1) { nodes { id } }
      auditEntries(first: 1) { nodes { id } } } }"""
    p = (await post(fed.gateway_url, query, {"s": slug}, fed.headers()))["data"]["project"]
    return [p["id"], *(p[k]["nodes"][0]["id"] for k in ("models", "deployments", "auditEntries"))]


async def test_a_viewer_of_one_project_sees_nothing_of_another(fed: Topology) -> None:
    mine = await _project_id(fed, "fraud-detection")
    other = await _ids_of(fed, "churn-prediction")
    for headers in await _viewer_credentials(fed, "fraud-detection"):
        variables = {"other": "churn-prediction", "ids": other}
        body = await both(fed, EVERYTHING_VISIBLE, variables, headers)
        assert "errors" not in body, body["errors"]
        data = body["data"]
        assert data["projects"]["nodes"] == [{"id": mine, "slug": "fraud-detection"}]
        assert data["other"] is None
        assert data["nodes"] == [None] * len(other)
        for listing in ("models", "deployments", "alerts", "auditEntries"):
            assert data[listing]["nodes"], listing
            assert {n["project"]["id"] for n in data[listing]["nodes"]} == {mine}, listing
        # Live: the same credential, in connection_init, gets no event stream of the other.
        init = {"apiKey": headers["X-Api-Key"]} if "X-Api-Key" in headers else headers
        async with subscribe(fed.gateway_ws_url, JOB_UPDATED, {"p": other[0]}, init) as events:
            refused = await events.message()
        assert refused["payload"]["data"] is None, refused
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused


async def test_a_gateway_started_before_its_subgraph_names_it_then_recovers(
    fed: Topology, tmp_path: Path
) -> None:
    """A subgraph that is not up yet: the client is told which one, and once it answers the
    same gateway serves (here a loopback relay stands in for the late subgraph)."""
    first, *_ = fed.layout.subgraphs
    late = free_port()
    ports = {
        name: int(url.split(":")[-1].split("/")[0])
        for name, url in fed.running.subgraph_urls.items()
    }
    supergraph = tmp_path / "supergraph.graphql"
    compose(fed.layout, out=supergraph, ports=ports | {first.name: late})
    # one worker: each worker logs for itself, and the test follows one log's story
    single = dataclasses.replace(fed.layout, gateway_workers=1)
    gateway = start_gateway(single, supergraph, free_port(), {}, tmp_path / "gateway.log")
    try:
        await wait_healthy(gateway, lambda _: None)
        url = gateway.health_url.replace("/readiness", "/graphql")
        query = "{ projects(first: 1) { totalCount } }"
        body = await post(url, query, None, fed.headers())
        assert body["errors"][0]["message"] == f'subgraph "{first.name}" is not answering'
        assert body["errors"][0]["extensions"]["serviceName"] == first.name
        assert f'subgraph "{first.name}"' in gateway.tail()
        async with relay(late, ports[first.name]):
            body = await post(url, query, None, fed.headers())
        assert body == await post(fed.combined_url, query, None, fed.headers())
        assert f'subgraph "{first.name}" answers again' in gateway.tail()
    finally:
        await stop(gateway)


ALERT_FIRED = """subscription($p: ID!) { alertFired(projectId: $p) {
  topic status alert { id value rule { id name } deployment { id name } } } }"""
DEPLOYMENT_EVENTS = """subscription($p: ID!) { deploymentEvents(projectId: $p) {
  kind deployment { id name model { name } } event { kind } } }"""
RECORD = """mutation($input: RecordDriftMetricsInput!) {
  recordDriftMetrics(input: $input) { count userErrors { code } } }"""
CREATE_RULE = """mutation($input: CreateAlertRuleInput!) {
  createAlertRule(input: $input) { alertRule { id } userErrors { code } } }"""
CREATE_DEPLOYMENT = """mutation($input: CreateDeploymentInput!) {
  createDeployment(input: $input) { deployment { id } userErrors { code } } }"""


def _drift(hour: int, score: float) -> dict[str, Any]:
    return {
        "kind": "DATA",
        "metric": "psi",
        "feature": "amount",
        "score": score,
        "threshold": 0.2,
        "windowStart": f"2026-02-01T{hour % 24:02d}:00:00Z",
        "windowEnd": f"2026-02-01T{hour % 24:02d}:30:00Z",
    }


async def test_alert_and_deployment_subscriptions_through_the_gateway(fed: Topology) -> None:
    """alertFired (monitoring) and deploymentEvents (deployments) reach a gateway subscriber,
    with fields the gateway fetches from the other subgraphs (rule, deployment, model)."""
    p = f.project(slug="live-through-gateway")
    md = f.model(p, name="gateway-model")
    v = f.version(md, stage=Stage.STAGING)
    d = f.deployment(md)
    await f.save(fed.sessions, p, md, v, d)
    pid, did = encode_global_id("Project", p.id), encode_global_id("Deployment", d.id)
    url, headers = fed.gateway_url, fed.headers()
    rule_input = {
        "projectId": pid,
        "name": "psi-rule",
        "metric": "psi",
        "operator": "GT",
        "threshold": 0.2,
        "evaluationPeriods": 1,
        "severity": "WARNING",
    }
    rule = (await post(url, CREATE_RULE, {"input": rule_input}, headers))["data"]
    rule_id = rule["createAlertRule"]["alertRule"]["id"]
    ws_url = url.replace("http://", "ws://")
    async with subscribe(ws_url, ALERT_FIRED, {"p": pid}, headers) as alerts:
        for hour in range(40):  # breach, recover, ...: until the gateway's stream is live
            score = 0.5 if hour % 2 == 0 else 0.05
            body = await post(
                url,
                RECORD,
                {"input": {"deploymentId": did, "metrics": [_drift(hour, score)]}},
                headers,
            )
            assert body["data"]["recordDriftMetrics"]["userErrors"] == [], body
            try:
                update = (await alerts.next(within_s=0.5))["data"]["alertFired"]
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("no alertFired event reached the gateway's subscriber")
    assert update["topic"] in ("alert.fired", "alert.resolved")
    assert update["alert"]["rule"] == {"id": rule_id, "name": "psi-rule"}
    assert update["alert"]["deployment"]["id"] == did
    async with subscribe(ws_url, DEPLOYMENT_EVENTS, {"p": pid}, headers) as events:
        for n in range(40):
            created_input = {
                "modelId": encode_global_id("Model", md.id),
                "versionId": encode_global_id("ModelVersion", v.id),
                "name": f"gateway-canary-{n}",
                "environment": "STAGING",
                "strategy": "CANARY",
            }
            body = await post(url, CREATE_DEPLOYMENT, {"input": created_input}, headers)
            assert body["data"]["createDeployment"]["userErrors"] == [], body
            try:
                event = (await events.next(within_s=0.5))["data"]["deploymentEvents"]
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("no deploymentEvents event reached the gateway's subscriber")
    assert event["kind"] == "CREATED"
    assert event["event"] == {"kind": "CREATED"}
    assert event["deployment"]["name"].startswith("gateway-canary-")
    assert event["deployment"]["model"] == {"name": "gateway-model"}
