"""``deleteDeployment``: a deployment goes with its split, events, drift metrics, alerts and
its own alert rules; audited with a tombstone; coded refusals; then its model can be deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from mlgraph.ids import encode_global_id as gid
from mlgraph.storage import models as m
from mlgraph.storage.enums import DeploymentStatus, Environment, Role, Stage
from tests import factories as f
from tests.conftest import Backend
from tests.test_mut_monitoring import Setup, create_rule, metric, record
from tests.writes import codes, mutate, written

DELETED = "deletedDeploymentId removedObjects"
TRAIL = """query($id: ID!) { auditEntries(first: 10, filter: {entityId: $id}) {
  nodes { action changes entity { id } } } }"""
CHAIN = "{ verifyAuditChain { ok } }"


async def _count(db: Backend, model: type[Any], **where: Any) -> int:
    async with db.sessions() as s:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return await s.scalar(stmt) or 0


async def _deployed(db: Backend, **kw: Any) -> tuple[Setup, m.Model, m.Deployment]:
    """A project, a model with a STAGING version deployed (``kw`` for the deployment), an
    EDITOR and an ADMIN member, and a deployment of another model that stays."""
    p = f.project()
    md, other_md = f.model(p), f.model(p)
    v = f.version(md, stage=Stage.STAGING)
    dep, kept = f.deployment(md, **kw), f.deployment(other_md)
    target = m.DeploymentTarget(
        project_id=p.id, deployment_id=dep.id, version_id=v.id, traffic_percent=100.0
    )
    members = [
        m.ProjectMember(project_id=p.id, principal_id="editor", role=Role.EDITOR),
        m.ProjectMember(project_id=p.id, principal_id="boss", role=Role.ADMIN),
    ]
    await f.save(db.sessions, p, md, other_md, v, dep, kept, target, *members)
    return Setup(p, dep, kept), md, dep


async def _delete(db: Backend, deployment_id: str, subject: str | None = None, **more: Any) -> Any:
    """The answer (data and errors) of deleteDeployment as ``subject`` (default: the admin)."""
    query = (
        "mutation($input: DeleteDeploymentInput!) { deleteDeployment(input: $input) "
        "{ deletedDeploymentId removedObjects userErrors { field code } } }"
    )
    variables = {"input": {"deploymentId": deployment_id, **more}}
    assert db.client is not None
    headers = {} if subject is None else db.headers(subject)
    response = await db.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return response.json()


async def test_a_deployment_goes_with_everything_below_it_and_keeps_a_tombstone(
    db: Backend,
) -> None:
    s, md, dep = await _deployed(db)
    await create_rule(db, s, deploymentId=s.deployment_id)  # its own rule
    await create_rule(db, s, name="project-wide")
    fired = await record(db, s.deployment_id, [metric(score=0.9, reportName="r/1.json")])
    assert fired["userErrors"] == []
    assert await _count(db, m.Alert, deployment_id=dep.id) == 2
    kept_metrics = await record(db, gid("Deployment", s.other_deployment.id), [metric()])
    assert kept_metrics["count"] == 1
    audits, events = await written(db)

    deleted = await mutate(db, "deleteDeployment", {"deploymentId": s.deployment_id}, DELETED)

    assert deleted == {
        "deletedDeploymentId": s.deployment_id,
        "removedObjects": 0,
        "userErrors": [],
    }
    for table in (m.Deployment, m.DeploymentTarget, m.DriftMetric, m.Alert):
        column = "id" if table is m.Deployment else "deployment_id"
        assert await _count(db, table, **{column: dep.id}) == 0, table
    assert await _count(db, m.AlertRule, project_id=s.project.id) == 1  # the project-wide one
    assert await _count(db, m.DriftMetric, deployment_id=s.other_deployment.id) == 1
    assert await _count(db, m.Deployment, id=s.other_deployment.id) == 1
    assert await written(db) == (audits + 1, events + 1)
    trail = (await db.data(TRAIL, {"id": s.deployment_id}))["auditEntries"]["nodes"]
    assert trail[0]["action"] == "deployment.delete"
    assert trail[0]["changes"]["before"]["name"] == dep.name
    assert trail[0]["changes"]["after"] is None
    assert trail[0]["entity"] is None
    async with db.sessions() as session:
        event = (
            await session.scalars(select(m.OutboxEvent).order_by(m.OutboxEvent.created_at.desc()))
        ).first()
    assert event is not None
    assert event.topic == "deployment.deleted"
    assert event.payload["deploymentId"] == s.deployment_id
    assert (await db.data(CHAIN))["verifyAuditChain"]["ok"] is True
    # and now its model has no deployment left, so it can be deleted
    model = await mutate(db, "deleteModel", {"modelId": gid("Model", md.id)}, "deletedModelId")
    assert model["userErrors"] == []


async def test_a_deployed_model_is_deleted_once_its_deployments_are(db: Backend) -> None:
    s, md, _ = await _deployed(db)
    model_input = {"modelId": gid("Model", md.id)}
    refused = await mutate(db, "deleteModel", model_input, "deletedModelId")
    assert codes(refused) == ["IN_USE"]
    deleted = await mutate(db, "deleteDeployment", {"deploymentId": s.deployment_id}, DELETED)
    assert deleted["userErrors"] == []
    again = await mutate(db, "deleteModel", model_input, "deletedModelId")
    assert again == {"deletedModelId": gid("Model", md.id), "userErrors": []}


async def test_refusals_are_coded_and_write_nothing(db: Backend) -> None:
    s, _, dep = await _deployed(db)
    before = await written(db)
    for bad in ("nope", gid("Deployment", s.project.id), gid("Model", dep.model_id)):
        answer = await _delete(db, bad)
        payload = answer["data"]["deleteDeployment"]
        assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
        assert payload["userErrors"][0]["field"] == ["input", "deploymentId"]
        assert payload["deletedDeploymentId"] is None
    stale = (await _delete(db, s.deployment_id, expectedRevision=dep.revision + 5))["data"]
    assert [e["code"] for e in stale["deleteDeployment"]["userErrors"]] == ["CONFLICT"]
    # a VIEWER (no role here) gets NOT_FOUND; an outsider cannot see it at all
    outsider = (await _delete(db, s.deployment_id, "stranger"))["data"]["deleteDeployment"]
    assert [e["code"] for e in outsider["userErrors"]] == ["NOT_FOUND"]
    assert await written(db) == before
    assert await _count(db, m.Deployment, id=dep.id) == 1


async def test_an_active_production_deployment_needs_a_project_admin(db: Backend) -> None:
    s, _, dep = await _deployed(db, environment=Environment.PRODUCTION)
    before = await written(db)
    refused = await _delete(db, s.deployment_id, "editor")
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await written(db) == before
    assert await _count(db, m.Deployment, id=dep.id) == 1
    deleted = (await _delete(db, s.deployment_id, "boss"))["data"]["deleteDeployment"]
    assert deleted["userErrors"] == []
    assert await _count(db, m.Deployment, id=dep.id) == 0


async def test_an_editor_deletes_a_staging_or_rolled_back_deployment(db: Backend) -> None:
    s, _, staging = await _deployed(db)
    assert (await _delete(db, s.deployment_id, "editor"))["data"]["deleteDeployment"][
        "userErrors"
    ] == []
    t, _, rolled_back = await _deployed(
        db, environment=Environment.PRODUCTION, status=DeploymentStatus.ROLLED_BACK
    )
    assert (await _delete(db, t.deployment_id, "editor"))["data"]["deleteDeployment"][
        "userErrors"
    ] == []
    assert await _count(db, m.Deployment, id=staging.id) == 0
    assert await _count(db, m.Deployment, id=rolled_back.id) == 0


async def test_an_archived_project_refuses_the_delete(db: Backend) -> None:
    s, _, dep = await _deployed(db)
    archived = await mutate(db, "archiveProject", {"id": s.project_id}, "project { id }")
    assert archived["userErrors"] == []
    payload = (await _delete(db, s.deployment_id))["data"]["deleteDeployment"]
    assert [e["code"] for e in payload["userErrors"]] == ["PROJECT_ARCHIVED"]
    assert await _count(db, m.Deployment, id=dep.id) == 1
