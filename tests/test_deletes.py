"""Deletes: a model version, a model, an archived project; each audited, each refusal coded.

The audit entries of a deleted entity stay, with its last snapshot as ``changes.before`` and
``after`` null (the tombstone); ``AuditEntry.entity`` answers null; the chains still verify.
Objects leave the store after the commit (``tests/test_objects.py`` covers both stores).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text

from mlgraph.ids import encode_global_id as gid
from mlgraph.storage import models as m
from mlgraph.storage.enums import Role, Stage
from tests import factories as f
from tests.conftest import Backend
from tests.writes import codes, mutate, written

VERSION = """mutation($input: CreateModelVersionInput!) { createModelVersion(input: $input) {
  modelVersion { id } userErrors { code } } }"""
TRAIL = """query($id: ID!) { auditEntries(first: 100, filter: {entityId: $id}) {
  nodes { action changes entity { id } } } }"""
CHAIN = "{ verifyAuditChain { ok checked } }"
DELETED_VERSION = 'model { version(alias: "latest") { version } } deletedModelVersionId'


async def _model(db: Backend, *versions: str) -> tuple[m.Project, m.Model, list[str]]:
    """A project with a model whose versions are created through the API (``latest`` follows)."""
    p = f.project()
    mdl = f.model(p)
    await f.save(db.sessions, p, mdl)
    ids = []
    for version in versions:
        made = await db.data(
            VERSION, {"input": {"modelId": gid("Model", mdl.id), "version": version}}
        )
        ids.append(made["createModelVersion"]["modelVersion"]["id"])
    return p, mdl, ids


async def _count(db: Backend, model: type[Any], **where: Any) -> int:
    async with db.sessions() as s:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return await s.scalar(stmt) or 0


async def _trail(db: Backend, global_id: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = (await db.data(TRAIL, {"id": global_id}))["auditEntries"]["nodes"]
    return nodes


async def test_a_draft_version_is_deleted_latest_moves_and_its_trail_stays(db: Backend) -> None:
    _, mdl, (v1, v2) = await _model(db, "1.0.0", "2.0.0")
    deleted = await mutate(db, "deleteModelVersion", {"versionId": v2}, DELETED_VERSION)
    assert deleted == {
        "model": {"version": {"version": "1.0.0"}},
        "deletedModelVersionId": v2,
        "userErrors": [],
    }
    assert (await db.data("query($id: ID!) { node(id: $id) { id } }", {"id": v2}))["node"] is None
    trail = await _trail(db, v2)
    assert [e["action"] for e in trail] == ["model_version.delete", "model_version.create"]
    tombstone = trail[0]
    assert tombstone["entity"] is None
    assert tombstone["changes"]["after"] is None
    assert tombstone["changes"]["before"]["version"] == "2.0.0"
    assert (
        await _count(db, m.OutboxEvent, topic="model_version.deleted", entity_type="ModelVersion")
        == 1
    )
    assert (await db.data(CHAIN))["verifyAuditChain"]["ok"] is True
    # the last version goes too; `latest` goes with it
    last = await mutate(db, "deleteModelVersion", {"versionId": v1}, DELETED_VERSION)
    assert last == {"model": {"version": None}, "deletedModelVersionId": v1, "userErrors": []}
    assert await _count(db, m.ModelAlias, model_id=mdl.id) == 0


async def _refused(db: Backend, name: str, input: dict[str, Any], selection: str) -> list[str]:
    before = await written(db)
    payload = await mutate(db, name, input, selection)
    assert await written(db) == before
    return codes(payload)


async def test_a_version_in_production_deployed_or_aliased_is_not_deleted(db: Backend) -> None:
    p = f.project()
    mdl = f.model(p)
    prod, served, named = (
        f.version(mdl, stage=Stage.PRODUCTION),
        f.version(mdl, stage=Stage.STAGING),
        f.version(mdl),
    )
    dep = f.deployment(mdl, name="checkout")
    target = m.DeploymentTarget(
        project_id=p.id, deployment_id=dep.id, version_id=served.id, traffic_percent=100.0
    )
    alias = m.ModelAlias(project_id=p.id, model_id=mdl.id, alias="champion", version_id=named.id)
    await f.save(db.sessions, p, mdl, prod, served, named, dep, target, alias)
    select_ = "deletedModelVersionId"
    for version, code in ((prod, "POLICY_VIOLATION"), (served, "IN_USE"), (named, "IN_USE")):
        input = {"versionId": gid("ModelVersion", version.id)}
        assert await _refused(db, "deleteModelVersion", input, select_) == [code]
    stale = {"versionId": gid("ModelVersion", named.id), "expectedRevision": 99}
    assert await _refused(db, "deleteModelVersion", stale, select_) == ["CONFLICT"]
    assert await _count(db, m.ModelVersion, model_id=mdl.id) == 3


async def test_a_model_is_deleted_with_its_versions_and_each_keeps_a_tombstone(
    db: Backend,
) -> None:
    p, mdl, versions = await _model(db, "1.0.0", "1.1.0")
    other = f.model(p, name="kept")
    await f.save(db.sessions, other)
    deleted = await mutate(
        db, "deleteModel", {"modelId": gid("Model", mdl.id)}, "deletedModelId removedObjects"
    )
    assert deleted == {
        "deletedModelId": gid("Model", mdl.id),
        "removedObjects": 0,
        "userErrors": [],
    }
    assert await _count(db, m.ModelVersion, project_id=p.id) == 0
    assert await _count(db, m.Model, project_id=p.id) == 1
    model_trail = await _trail(db, gid("Model", mdl.id))
    assert model_trail[0]["action"] == "model.delete"
    assert model_trail[0]["changes"]["before"]["name"] == mdl.name
    for version in versions:
        assert (await _trail(db, version))[0]["action"] == "model_version.delete"
    assert (await db.data(CHAIN))["verifyAuditChain"]["ok"] is True


async def test_a_served_model_or_one_in_production_is_not_deleted(db: Backend) -> None:
    p = f.project()
    served, promoted = f.model(p), f.model(p)
    dep = f.deployment(served)
    version = f.version(promoted, stage=Stage.PRODUCTION)
    await f.save(db.sessions, p, served, promoted, dep, version)
    for model, code in ((served, "IN_USE"), (promoted, "POLICY_VIOLATION")):
        input = {"modelId": gid("Model", model.id)}
        assert await _refused(db, "deleteModel", input, "deletedModelId") == [code]
    assert await _count(db, m.Model, project_id=p.id) == 2


async def _full_project(db: Backend) -> m.Project:
    """A project with a row in every table a project owns."""
    p = f.project()
    pl = f.pipeline(p)
    job = f.job(pl)
    mdl = f.model(p)
    v = f.version(mdl, stage=Stage.STAGING)
    dep = f.deployment(mdl)
    target = m.DeploymentTarget(
        project_id=p.id, deployment_id=dep.id, version_id=v.id, traffic_percent=100.0
    )
    member = m.ProjectMember(project_id=p.id, principal_id="editor", role=Role.EDITOR)
    await f.save(db.sessions, p, pl, job, mdl, v, dep, target, member, f.api_key(p.id))
    return p


async def test_an_archived_project_is_deleted_with_everything_and_its_chain_verifies(
    db: Backend,
) -> None:
    p, kept = await _full_project(db), await _full_project(db)
    project = gid("Project", p.id)
    await mutate(db, "updateProject", {"id": project, "name": "renamed"}, "project { id }")
    assert await _refused(db, "deleteProject", {"id": project}, "deletedProjectId") == [
        "INVALID_TRANSITION"
    ]
    archived = await mutate(db, "archiveProject", {"id": project}, "project { id }")
    assert archived["userErrors"] == []
    deleted = await mutate(db, "deleteProject", {"id": project}, "deletedProjectId removedObjects")
    assert deleted == {"deletedProjectId": project, "removedObjects": 0, "userErrors": []}
    slug = "query($s: String!) { project(slug: $s) { id } }"
    assert (await db.data(slug, {"s": p.slug}))["project"] is None
    for table in (m.Pipeline, m.Job, m.Model, m.ModelVersion, m.Deployment, m.ApiKey):
        assert await _count(db, table, project_id=p.id) == 0, table
        assert await _count(db, table, project_id=kept.id) == 1, table
    assert await _count(db, m.ProjectMember, project_id=p.id) == 0
    # The trail stays: a platform admin reads it (the caller is one), the chain verifies.
    trail = await _trail(db, project)
    assert [e["action"] for e in trail] == ["project.delete", "project.archive", "project.update"]
    assert {e["entity"] is None for e in trail} == {True}
    assert trail[0]["changes"]["before"]["name"] == "renamed"
    assert (await db.data(CHAIN))["verifyAuditChain"] == {"ok": True, "checked": 3}
    # and nothing writes to it any more
    gone = await mutate(
        db, "createPipeline", {"projectId": project, "name": "x"}, "pipeline { id }"
    )
    assert codes(gone) == ["NOT_FOUND"]


async def test_only_a_project_admin_deletes_a_project(db: Backend) -> None:
    p = await _full_project(db)
    async with db.sessions() as s, s.begin():
        row = await s.get_one(m.Project, p.id)
        row.archived_at = f.tick()
    assert db.client is not None
    query = """mutation($id: ID!) { deleteProject(input: {id: $id}) { deletedProjectId } }"""
    response = await db.client.post(
        "/graphql",
        json={"query": query, "variables": {"id": gid("Project", p.id)}},
        headers=db.headers("editor"),
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _count(db, m.Project, id=p.id) == 1


async def test_a_model_version_id_that_is_not_one_is_not_found(db: Backend) -> None:
    missing = {"versionId": gid("ModelVersion", uuid.uuid4())}
    assert await _refused(db, "deleteModelVersion", missing, "deletedModelVersionId") == [
        "NOT_FOUND"
    ]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_write_that_loses_to_a_delete_of_its_version_is_not_found(db: Backend) -> None:
    """``createArtifactUpload`` reads the version, then its INSERT waits on the version's row
    lock held by a delete; once the delete commits, the foreign key fails: a lost race, retried,
    answered NOT_FOUND (not INTERNAL), and nothing is written."""
    p = f.project()
    mdl = f.model(p)
    version = f.version(mdl)
    await f.save(db.sessions, p, mdl, version)
    input = {
        "versionId": gid("ModelVersion", version.id),
        "kind": "WEIGHTS",
        "fileName": "w.bin",
        "sizeBytes": 1,
        "sha256": "0" * 64,
    }
    before = await written(db)
    async with db.engine.connect() as conn:
        row = select(m.ModelVersion.id).where(m.ModelVersion.id == version.id)
        await conn.execute(row.with_for_update())
        upload = asyncio.create_task(mutate(db, "createArtifactUpload", input, "artifact { id }"))
        for _ in range(200):  # until the upload's INSERT waits for the lock
            waiting = await conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the upload never waited for the version's lock"
        await conn.execute(delete(m.ModelVersion).where(m.ModelVersion.id == version.id))
        await conn.commit()
    refused = await upload
    assert codes(refused) == ["NOT_FOUND"]
    assert refused["artifact"] is None
    assert await written(db) == before


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_model_and_its_version_deleted_at_once_never_fail(db: Backend) -> None:
    """Both lock the model first: no deadlock, no INTERNAL; the version's delete either comes
    first or finds it gone (NOT_FOUND)."""
    for _ in range(5):
        _, mdl, (version,) = await _model(db, "1.0.0")
        model_input = {"modelId": gid("Model", mdl.id)}
        both = await asyncio.gather(
            mutate(db, "deleteModelVersion", {"versionId": version}, "deletedModelVersionId"),
            mutate(db, "deleteModel", model_input, "deletedModelId"),
        )
        assert codes(both[0]) in ([], ["NOT_FOUND"])
        assert codes(both[1]) == []
        assert await _count(db, m.Model, id=mdl.id) == 0
    assert (await db.data(CHAIN))["verifyAuditChain"]["ok"] is True
