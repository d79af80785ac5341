"""The rules a new user expects, each with its refusal code; a refusal writes nothing.

* An archived project refuses writes (PROJECT_ARCHIVED) until ``unarchiveProject``; taking
  access away (``removeProjectMember``, ``revokeApiKey``) still works.
* Traffic goes only to versions in ``Settings.traffic_stages`` (STAGING, PRODUCTION):
  POLICY_VIOLATION otherwise.
* Job progress is reported only while the job is RUNNING (INVALID_TRANSITION) and never goes
  back (INVALID).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mlgraph.app import create_app
from mlgraph.ids import encode_global_id as gid
from mlgraph.storage import models as m
from mlgraph.storage.enums import JobStatus, Role, Stage
from tests import factories as f
from tests.conftest import ADMIN, Backend, serve, stop
from tests.writes import codes, mutate, written

START, END = "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z"


@dataclass
class Rows:
    project: m.Project
    pipeline: m.Pipeline
    job: m.Job
    model: m.Model
    versions: dict[Stage, m.ModelVersion]
    deployment: m.Deployment


async def _rows(db: Backend) -> Rows:
    """A project with a pipeline and a queued job, a model with a version in every stage but
    ARCHIVED, and a deployment serving the STAGING version."""
    p = f.project()
    pl = f.pipeline(p)
    job = f.job(pl)
    mdl = f.model(p)
    versions = {s: f.version(mdl, stage=s) for s in (Stage.DRAFT, Stage.STAGING, Stage.PRODUCTION)}
    dep = f.deployment(mdl)
    target = m.DeploymentTarget(
        project_id=p.id,
        deployment_id=dep.id,
        version_id=versions[Stage.STAGING].id,
        traffic_percent=100.0,
    )
    member = m.ProjectMember(project_id=p.id, principal_id="someone", role=Role.VIEWER)
    await f.save(db.sessions, p, pl, job, mdl, *versions.values(), dep, target, member)
    return Rows(p, pl, job, mdl, versions, dep)


# --- an archived project ---------------------------------------------------------------------

WRITES: list[tuple[str, Callable[[Rows], dict[str, Any]], str]] = [
    (
        "updateProject",
        lambda r: {"id": gid("Project", r.project.id), "name": "x"},
        "project { id }",
    ),
    (
        "addProjectMember",
        lambda r: {"projectId": gid("Project", r.project.id), "principalId": "b", "role": "EDITOR"},
        "project { id }",
    ),
    (
        "createApiKey",
        lambda r: {"projectId": gid("Project", r.project.id), "name": "ci", "role": "EDITOR"},
        "apiKey { id }",
    ),
    (
        "createPipeline",
        lambda r: {"projectId": gid("Project", r.project.id), "name": "new"},
        "pipeline { id }",
    ),
    ("startPipelineRun", lambda r: {"pipelineId": gid("Pipeline", r.pipeline.id)}, "job { id }"),
    ("updateJob", lambda r: {"jobId": gid("Job", r.job.id), "status": "RUNNING"}, "job { id }"),
    (
        "registerModel",
        lambda r: {"projectId": gid("Project", r.project.id), "name": "m2", "riskTier": "LOW"},
        "model { id }",
    ),
    (
        "createModelVersion",
        lambda r: {"modelId": gid("Model", r.model.id), "version": "9.9.9"},
        "modelVersion { id }",
    ),
    ("deleteModel", lambda r: {"modelId": gid("Model", r.model.id)}, "deletedModelId"),
    (
        "deleteModelVersion",
        lambda r: {"versionId": gid("ModelVersion", r.versions[Stage.DRAFT].id)},
        "deletedModelVersionId",
    ),
    (
        "createDeployment",
        lambda r: {
            "modelId": gid("Model", r.model.id),
            "name": "d2",
            "environment": "STAGING",
            "strategy": "ROLLING",
            "versionId": gid("ModelVersion", r.versions[Stage.STAGING].id),
        },
        "deployment { id }",
    ),
    (
        "shiftTraffic",
        lambda r: {
            "deploymentId": gid("Deployment", r.deployment.id),
            "splits": [
                {"versionId": gid("ModelVersion", r.versions[Stage.PRODUCTION].id), "percent": 100}
            ],
        },
        "deployment { id }",
    ),
    (
        "createAlertRule",
        lambda r: {
            "projectId": gid("Project", r.project.id),
            "name": "psi",
            "metric": "psi",
            "operator": "GT",
            "threshold": 0.2,
            "severity": "WARNING",
        },
        "alertRule { id }",
    ),
    (
        "recordDriftMetrics",
        lambda r: {
            "deploymentId": gid("Deployment", r.deployment.id),
            "metrics": [
                {
                    "kind": "DATA",
                    "metric": "psi",
                    "feature": "age",
                    "score": 0.1,
                    "threshold": 0.2,
                    "windowStart": START,
                    "windowEnd": END,
                }
            ],
        },
        "count",
    ),
]


async def _archived(db: Backend) -> Rows:
    rows = await _rows(db)
    done = await mutate(
        db, "archiveProject", {"id": gid("Project", rows.project.id)}, "project { archivedAt }"
    )
    assert done["userErrors"] == []
    return rows


@pytest.mark.parametrize(("name", "input", "selection"), WRITES, ids=[w[0] for w in WRITES])
async def test_an_archived_project_refuses_writes(
    db: Backend, name: str, input: Callable[[Rows], dict[str, Any]], selection: str
) -> None:
    rows = await _archived(db)
    before = await written(db)
    payload = await mutate(db, name, input(rows), selection)
    assert codes(payload) == ["PROJECT_ARCHIVED"]
    assert await written(db) == before


async def test_unarchive_reopens_an_archived_project(db: Backend) -> None:
    rows = await _archived(db)
    project = {"id": gid("Project", rows.project.id)}
    # archiving twice, or unarchiving an open project, is not a transition
    assert codes(await mutate(db, "archiveProject", project, "project { id }")) == [
        "INVALID_TRANSITION"
    ]
    opened = await mutate(db, "unarchiveProject", project, "project { archivedAt }")
    assert opened == {"project": {"archivedAt": None}, "userErrors": []}
    assert codes(await mutate(db, "unarchiveProject", project, "project { id }")) == [
        "INVALID_TRANSITION"
    ]
    created = await mutate(
        db, "createPipeline", {"projectId": project["id"], "name": "new"}, "pipeline { name }"
    )
    assert created == {"pipeline": {"name": "new"}, "userErrors": []}


async def test_an_archived_project_still_lets_access_be_taken_away(db: Backend) -> None:
    rows = await _rows(db)
    key = await mutate(
        db,
        "createApiKey",
        {"projectId": gid("Project", rows.project.id), "name": "ci", "role": "EDITOR"},
        "apiKey { id }",
    )
    await _archived_again(db, rows)
    revoked = await mutate(db, "revokeApiKey", {"apiKeyId": key["apiKey"]["id"]}, "apiKey { id }")
    assert revoked["userErrors"] == []
    removed = await mutate(
        db,
        "removeProjectMember",
        {"projectId": gid("Project", rows.project.id), "principalId": "someone"},
        "project { members { totalCount } }",
    )
    assert removed == {"project": {"members": {"totalCount": 0}}, "userErrors": []}


async def _archived_again(db: Backend, rows: Rows) -> None:
    done = await mutate(
        db, "archiveProject", {"id": gid("Project", rows.project.id)}, "project { id }"
    )
    assert done["userErrors"] == []


# --- traffic only to STAGING and PRODUCTION --------------------------------------------------


def _split(rows: Rows, stage: Stage, percent: float = 100.0) -> dict[str, Any]:
    version = gid("ModelVersion", rows.versions[stage].id)
    return {
        "deploymentId": gid("Deployment", rows.deployment.id),
        "splits": [{"versionId": version, "percent": percent}],
    }


async def test_traffic_goes_only_to_staging_and_production_versions(db: Backend) -> None:
    rows = await _rows(db)
    before = await written(db)
    refused = await mutate(db, "shiftTraffic", _split(rows, Stage.DRAFT, 10.0), "deployment { id }")
    assert codes(refused) == ["POLICY_VIOLATION"]
    assert refused["userErrors"][0]["field"] == ["input", "splits", "0", "versionId"]
    draft = gid("ModelVersion", rows.versions[Stage.DRAFT].id)
    created = await mutate(
        db,
        "createDeployment",
        {
            "modelId": gid("Model", rows.model.id),
            "name": "draft-api",
            "environment": "STAGING",
            "strategy": "ROLLING",
            "versionId": draft,
        },
        "deployment { id }",
    )
    assert codes(created) == ["POLICY_VIOLATION"]
    assert created["userErrors"][0]["field"] == ["input", "versionId"]
    assert await written(db) == before
    for stage in (Stage.PRODUCTION, Stage.STAGING):
        moved = await mutate(db, "shiftTraffic", _split(rows, stage), "deployment { id }")
        assert moved["userErrors"] == []


async def test_rollback_to_a_draft_version_is_refused(db: Backend) -> None:
    rows = await _rows(db)
    # The draft is the oldest version: an earlier one than the serving STAGING version.
    before = await written(db)
    refused = await mutate(
        db,
        "rollbackDeployment",
        {
            "deploymentId": gid("Deployment", rows.deployment.id),
            "toVersionId": gid("ModelVersion", rows.versions[Stage.DRAFT].id),
            "reason": "bad canary",
        },
        "deployment { id }",
    )
    assert codes(refused) == ["POLICY_VIOLATION"]
    assert refused["userErrors"][0]["field"] == ["input", "toVersionId"]
    assert await written(db) == before


@pytest.mark.parametrize(
    ("stages", "stage", "code"),
    [
        ((Stage.DRAFT, Stage.STAGING, Stage.PRODUCTION), Stage.DRAFT, None),
        ((Stage.PRODUCTION,), Stage.STAGING, "POLICY_VIOLATION"),
        ((Stage.PRODUCTION,), Stage.PRODUCTION, None),
    ],
)
async def test_the_stages_that_take_traffic_are_a_setting(
    db: Backend, stages: tuple[Stage, ...], stage: Stage, code: str | None
) -> None:
    rows = await _rows(db)
    settings = db.settings.model_copy(update={"traffic_stages": stages})
    server, task, url = await serve(create_app(settings, engine=db.engine))
    try:
        async with httpx.AsyncClient(
            base_url=url, timeout=30, headers=db.headers(ADMIN, admin=True)
        ) as client:
            query = """mutation($input: ShiftTrafficInput!) { shiftTraffic(input: $input) {
              userErrors { code } } }"""
            response = await client.post(
                "/graphql", json={"query": query, "variables": {"input": _split(rows, stage)}}
            )
    finally:
        await stop(server, task)
    errors = response.json()["data"]["shiftTraffic"]["userErrors"]
    assert [e["code"] for e in errors] == ([code] if code else [])


# --- job progress ----------------------------------------------------------------------------


async def _report(db: Backend, job: m.Job, **fields: Any) -> dict[str, Any]:
    return await mutate(
        db, "updateJob", {"jobId": gid("Job", job.id), **fields}, "job { status progress }"
    )


async def test_progress_is_reported_only_while_running(db: Backend) -> None:
    rows = await _rows(db)
    before = await written(db)
    queued = await _report(db, rows.job, progress=0.1)
    assert codes(queued) == ["INVALID_TRANSITION"]
    assert queued["userErrors"][0]["field"] == ["input", "progress"]
    assert await written(db) == before
    # the report that starts the run may carry progress; so may the one that ends it
    started = await _report(db, rows.job, status="RUNNING", progress=0.2)
    assert started == {"job": {"status": "RUNNING", "progress": 0.2}, "userErrors": []}
    failed = await _report(db, rows.job, status="FAILED", progress=0.4)
    assert failed == {"job": {"status": "FAILED", "progress": 0.4}, "userErrors": []}
    after = await written(db)
    late = await _report(db, rows.job, progress=0.5)
    assert codes(late) == ["INVALID_TRANSITION"]
    assert await written(db) == after


async def test_progress_never_goes_back(db: Backend) -> None:
    rows = await _rows(db)
    await _report(db, rows.job, status="RUNNING", progress=0.5)
    before = await written(db)
    for refused in (
        await _report(db, rows.job, progress=0.2),
        await _report(db, rows.job, status="FAILED", progress=0.3),
    ):
        assert codes(refused) == ["INVALID"]
        assert refused["userErrors"][0]["field"] == ["input", "progress"]
    assert await written(db) == before
    same = await _report(db, rows.job, progress=0.5, message="still epoch 5")
    assert same == {"job": {"status": "RUNNING", "progress": 0.5}, "userErrors": []}
    done = await _report(db, rows.job, status="SUCCEEDED")
    assert done == {"job": {"status": JobStatus.SUCCEEDED.value, "progress": 1.0}, "userErrors": []}
