"""Registry mutations: models, versions, lineage, promotion policy, approvals, aliases."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import func, select

from mlgraph.auth.principal import Principal
from mlgraph.context import Context
from mlgraph.ids import decode_global_id, encode_global_id
from mlgraph.schema import build_schema
from mlgraph.storage import models as m
from mlgraph.storage.enums import ArtifactKind, ArtifactStatus, Role, Stage
from mlgraph.storage.objects.local import LocalObjectStore
from tests import factories as f
from tests.conftest import ADMIN, Backend
from tests.writes import codes, mutate, written

SCHEMA = build_schema()
MODEL = "model { id name description tags riskTier revision archivedAt }"
VERSION = "modelVersion { id version stage revision metrics metadata commitSha }"
ALIASES = "model { id revision aliases { alias version { version } } }"


def gid(row: Any) -> str:
    return encode_global_id(type(row).__name__, row.id)


def pk(global_id: str) -> uuid.UUID:
    return decode_global_id(global_id)[1]


async def new_project(db: Backend, **kw: Any) -> m.Project:
    project = f.project(**kw)
    await f.save(db.sessions, project)
    return project


async def register(db: Backend, project: m.Project, **extra: Any) -> dict[str, Any]:
    payload = await mutate(
        db,
        "registerModel",
        {"projectId": gid(project), "name": "churn", "riskTier": "LOW", **extra},
        MODEL,
    )
    assert payload["userErrors"] == []
    model: dict[str, Any] = payload["model"]
    return model


async def create_version(db: Backend, model_id: str, version: str, **extra: Any) -> dict[str, Any]:
    payload = await mutate(
        db, "createModelVersion", {"modelId": model_id, "version": version, **extra}, VERSION
    )
    assert payload["userErrors"] == [], payload["userErrors"]
    created: dict[str, Any] = payload["modelVersion"]
    return created


async def transition(db: Backend, version_id: str, stage: str, **extra: Any) -> dict[str, Any]:
    return await mutate(
        db,
        "transitionModelVersion",
        {"versionId": version_id, "stage": stage, **extra},
        "modelVersion { stage revision }",
    )


def weights(version_id: uuid.UUID, project_id: uuid.UUID, **kw: Any) -> m.Artifact:
    return m.Artifact(
        **{
            "id": uuid.uuid4(),
            "project_id": project_id,
            "version_id": version_id,
            "kind": ArtifactKind.WEIGHTS,
            "status": ArtifactStatus.AVAILABLE,
            "file_name": "model.pt",
            "storage_key": f"weights/{uuid.uuid4()}",
            "size_bytes": 1,
            "sha256": "0" * 64,
            **kw,
        }
    )


async def actions(db: Backend) -> list[str]:
    async with db.sessions() as s:
        return list(await s.scalars(select(m.AuditEntry.action).order_by(m.AuditEntry.seq)))


async def topics(db: Backend) -> list[str]:
    async with db.sessions() as s:
        return list(await s.scalars(select(m.OutboxEvent.topic).order_by(m.OutboxEvent.created_at)))


async def payloads(db: Backend) -> list[dict[str, Any]]:
    async with db.sessions() as s:
        return list(
            await s.scalars(select(m.OutboxEvent.payload).order_by(m.OutboxEvent.created_at))
        )


async def run_as(db: Backend, principal: Principal, query: str, **variables: Any) -> Any:
    context = Context.create(
        principal=principal,
        request_id="test",
        settings=db.settings,
        sessions=db.sessions,
        objects=LocalObjectStore(Path("/nonexistent")),
    )
    result = await SCHEMA.execute(query, variable_values=variables, context_value=context)
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


# --- models ---------------------------------------------------------------------------------


async def test_register_model_writes_row_audit_and_outbox(db: Backend) -> None:
    project = await new_project(db)
    model = await register(
        db,
        project,
        description="Who leaves",
        tags=["tabular", "churn", "tabular"],
        riskTier="HIGH",
        requiredMetrics=["auc", "auc", "f1"],
    )
    assert model["tags"] == ["tabular", "churn"]
    assert (model["riskTier"], model["revision"], model["archivedAt"]) == ("HIGH", 1, None)
    async with db.sessions() as s:
        row = await s.get_one(m.Model, pk(model["id"]))
        entry = (await s.scalars(select(m.AuditEntry))).one()
    assert row.required_metrics == ["auc", "f1"]
    assert (entry.action, entry.entity_type, entry.changes["before"]) == (
        "model.register",
        "Model",
        None,
    )
    assert entry.changes["after"]["name"] == "churn"
    assert await topics(db) == ["model.registered"]


@pytest.mark.parametrize(
    ("extra", "field", "code"),
    [
        ({"name": " "}, ["input", "name"], "INVALID"),
        ({"name": "n" * 201}, ["input", "name"], "TOO_LONG"),
        ({"tags": [f"t{i}" for i in range(51)]}, ["input", "tags"], "LIMIT_EXCEEDED"),
        ({"tags": ["ok", "t" * 65]}, ["input", "tags", "1"], "TOO_LONG"),
        (
            {"requiredMetrics": [f"m{i}" for i in range(51)]},
            ["input", "requiredMetrics"],
            "LIMIT_EXCEEDED",
        ),
        ({"description": "d" * 10_001}, ["input", "description"], "TOO_LONG"),
    ],
)
async def test_register_model_invalid_input_writes_nothing(
    db: Backend, extra: dict[str, Any], field: list[str], code: str
) -> None:
    project = await new_project(db)
    payload = await mutate(
        db,
        "registerModel",
        {"projectId": gid(project), "name": "churn", "riskTier": "LOW", **extra},
        "model { id }",
    )
    assert payload["model"] is None
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert await written(db) == (0, 0)


async def test_fifty_tags_after_dedupe_are_fine(db: Backend) -> None:
    project = await new_project(db)
    tags = [f"t{i}" for i in range(50)]
    model = await register(db, project, tags=tags + tags[:5])
    assert model["tags"] == tags


async def test_model_name_is_unique_within_its_project(db: Backend) -> None:
    project, other = await new_project(db), await new_project(db)
    await register(db, project)
    before = await written(db)
    again = await mutate(
        db,
        "registerModel",
        {"projectId": gid(project), "name": "churn", "riskTier": "LOW"},
        "model { id }",
    )
    assert codes(again) == ["DUPLICATE"]
    assert again["userErrors"][0]["field"] == ["input", "name"]
    assert await written(db) == before
    await register(db, other)  # the same name in another project is fine


async def test_register_model_in_unknown_or_archived_project(db: Backend) -> None:
    unknown = await mutate(
        db,
        "registerModel",
        {"projectId": encode_global_id("Project", uuid.uuid4()), "name": "x", "riskTier": "LOW"},
        "model { id }",
    )
    assert codes(unknown) == ["NOT_FOUND"]
    assert unknown["userErrors"][0]["field"] == ["input", "projectId"]
    archived = await new_project(db, archived_at=f.tick())
    refused = await mutate(
        db,
        "registerModel",
        {"projectId": gid(archived), "name": "x", "riskTier": "LOW"},
        "model { id }",
    )
    assert codes(refused) == ["PROJECT_ARCHIVED"]
    assert refused["userErrors"][0]["field"] == ["input", "projectId"]
    assert await written(db) == (0, 0)


async def test_register_model_idempotency_key_replays(db: Backend) -> None:
    project = await new_project(db)
    first = await register(db, project, idempotencyKey="reg-1")
    before = await written(db)
    again = await register(db, project, idempotencyKey="reg-1")
    assert again["id"] == first["id"]
    assert await written(db) == before


async def test_update_model_and_stale_revision(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    ok = await mutate(
        db,
        "updateModel",
        {
            "modelId": model["id"],
            "expectedRevision": 1,
            "description": "New",
            "tags": ["a", "a", "b"],
            "riskTier": "MEDIUM",
            "requiredMetrics": ["auc"],
        },
        MODEL,
    )
    assert ok["userErrors"] == []
    assert (ok["model"]["description"], ok["model"]["tags"], ok["model"]["riskTier"]) == (
        "New",
        ["a", "b"],
        "MEDIUM",
    )
    assert ok["model"]["revision"] == 2
    before = await written(db)
    stale = await mutate(
        db,
        "updateModel",
        {"modelId": model["id"], "expectedRevision": 1, "description": "Lost"},
        "model { id }",
    )
    assert codes(stale) == ["CONFLICT"]
    assert stale["userErrors"][0]["field"] == ["input", "expectedRevision"]
    assert await written(db) == before
    assert await actions(db) == ["model.register", "model.update"]
    assert await topics(db) == ["model.registered", "model.updated"]
    assert (await payloads(db))[-1] == {
        "changed": ["description", "requiredMetrics", "riskTier", "tags"]
    }


async def test_update_model_invalid_tags_writes_nothing(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    before = await written(db)
    payload = await mutate(
        db, "updateModel", {"modelId": model["id"], "tags": ["x" * 65]}, "model { id }"
    )
    assert codes(payload) == ["TOO_LONG"]
    assert payload["userErrors"][0]["field"] == ["input", "tags", "0"]
    assert await written(db) == before


async def test_archive_model_once_then_it_is_read_only(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    version = await create_version(db, model["id"], "1.0.0")
    done = await mutate(db, "archiveModel", {"modelId": model["id"]}, MODEL)
    assert done["model"]["archivedAt"] is not None
    before = await written(db)
    again = await mutate(db, "archiveModel", {"modelId": model["id"]}, "model { id }")
    assert codes(again) == ["INVALID_TRANSITION"]
    assert again["userErrors"][0]["field"] == ["input", "modelId"]
    new_version = await mutate(
        db,
        "createModelVersion",
        {"modelId": model["id"], "version": "2.0.0"},
        "modelVersion { id }",
    )
    assert codes(new_version) == ["POLICY_VIOLATION"]
    assert new_version["userErrors"][0]["field"] == ["input", "modelId"]
    update = await mutate(
        db, "updateModel", {"modelId": model["id"], "description": "x"}, "model { id }"
    )
    assert codes(update) == ["POLICY_VIOLATION"]
    staging = await transition(db, version["id"], "STAGING")
    assert codes(staging) == ["POLICY_VIOLATION"]
    assert staging["userErrors"][0]["field"] == ["input", "versionId"]
    assert await written(db) == before
    archived = await transition(db, version["id"], "ARCHIVED")  # cleaning up stays possible
    assert archived["modelVersion"]["stage"] == "ARCHIVED"


@pytest.mark.parametrize(
    "bad_id",
    [
        "nope",
        encode_global_id("Model", uuid.UUID(int=0)),
        encode_global_id("Project", uuid.UUID(int=0)),
    ],
)
async def test_unknown_model_ids_are_not_found(db: Backend, bad_id: str) -> None:
    payload = await mutate(db, "updateModel", {"modelId": bad_id}, "model { id }")
    assert codes(payload) == ["NOT_FOUND"]
    assert payload["userErrors"][0]["field"] == ["input", "modelId"]


# --- versions -------------------------------------------------------------------------------


async def test_create_version_starts_in_draft_with_its_data(db: Backend) -> None:
    project = await new_project(db)
    pl = f.pipeline(project)
    job = f.job(pl)
    await f.save(db.sessions, pl, job)
    model = await register(db, project)
    version = await create_version(
        db,
        model["id"],
        "1.0.0-rc.1+build.5",
        description="First",
        metrics={"auc": 0.91, "rows": 1000},
        metadata={"framework": "torch", "layers": [1, 2]},
        commitSha="ABCDEF1",
        sourceRunId=gid(job),
    )
    assert version["stage"] == "DRAFT"
    assert version["metrics"] == {"auc": 0.91, "rows": 1000.0}
    assert version["metadata"] == {"framework": "torch", "layers": [1, 2]}
    assert version["commitSha"] == "abcdef1"
    data = await db.data(
        "query($id: ID!) { node(id: $id) { ... on ModelVersion { sourceRun { id } "
        "model { id } } } }",
        {"id": version["id"]},
    )
    assert data["node"] == {"sourceRun": {"id": gid(job)}, "model": {"id": model["id"]}}
    assert await actions(db) == ["model.register", "model_version.create", "model_alias.set"]
    assert await topics(db) == ["model.registered", "model_version.created", "model_alias.moved"]


@pytest.mark.parametrize(
    ("extra", "field", "code"),
    [
        ({"version": "1.0"}, ["input", "version"], "INVALID"),
        ({"version": "v1.0.0"}, ["input", "version"], "INVALID"),
        ({"version": "01.0.0"}, ["input", "version"], "INVALID"),
        ({"version": "1." + "0" * 70 + ".0"}, ["input", "version"], "TOO_LONG"),
        ({"metrics": {"auc": "high"}}, ["input", "metrics"], "INVALID"),
        ({"metrics": [0.9]}, ["input", "metrics"], "INVALID"),
        ({"metadata": [1, 2]}, ["input", "metadata"], "INVALID"),
        ({"commitSha": "abc12"}, ["input", "commitSha"], "INVALID"),
        ({"commitSha": "zzzzzzzz"}, ["input", "commitSha"], "INVALID"),
        ({"commitSha": "a" * 41}, ["input", "commitSha"], "TOO_LONG"),
        (
            {
                "parentVersionIds": [
                    encode_global_id("ModelVersion", uuid.uuid4()) for _ in range(21)
                ]
            },
            ["input", "parentVersionIds"],
            "LIMIT_EXCEEDED",
        ),
    ],
)
async def test_create_version_invalid_input_writes_nothing(
    db: Backend, extra: dict[str, Any], field: list[str], code: str
) -> None:
    project = await new_project(db)
    model = await register(db, project)
    before = await written(db)
    payload = await mutate(
        db,
        "createModelVersion",
        {"modelId": model["id"], "version": "1.0.0", **extra},
        "modelVersion { id }",
    )
    assert payload["modelVersion"] is None
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert await written(db) == before


async def test_non_finite_metrics_are_refused(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    before = await written(db)
    # Over HTTP, JSON bodies cannot carry NaN, but a GraphQL literal can overflow to Infinity.
    body = await db.gql(
        """mutation($m: ID!) { createModelVersion(input: {modelId: $m, version: "1.0.0",
            metrics: {auc: 0.9, loss: 1e999}}) {
            modelVersion { id } userErrors { field code } } }""",
        {"m": model["id"]},
    )
    assert body["data"] is None
    error = body["errors"][0]["extensions"]
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "input.metrics.loss")
    # In-process callers can pass NaN and -Infinity.
    context = Context.create(
        principal=Principal("root", "Root", platform_admin=True),
        request_id="test",
        settings=db.settings,
        sessions=db.sessions,
        objects=LocalObjectStore(Path("/nonexistent")),
    )
    result = await SCHEMA.execute(
        """mutation($input: CreateModelVersionInput!) { createModelVersion(input: $input) {
            modelVersion { id } userErrors { field code } } }""",
        variable_values={
            "input": {
                "modelId": model["id"],
                "version": "1.0.0",
                "metrics": {"auc": float("nan"), "loss": float("-inf"), "f1": 0.5},
            }
        },
        context_value=context,
    )
    assert result.data is None
    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "BAD_USER_INPUT",
        "requestId": "test",
        "field": "input.metrics.auc",
    }
    assert await written(db) == before


async def test_duplicate_version_in_a_model(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    await create_version(db, model["id"], "1.0.0")
    before = await written(db)
    again = await mutate(
        db,
        "createModelVersion",
        {"modelId": model["id"], "version": "1.0.0"},
        "modelVersion { id }",
    )
    assert codes(again) == ["DUPLICATE"]
    assert again["userErrors"][0]["field"] == ["input", "version"]
    assert await written(db) == before


async def test_source_run_and_parents_must_be_in_the_same_project(db: Backend) -> None:
    project, other = await new_project(db), await new_project(db)
    pl = f.pipeline(other)
    foreign_job = f.job(pl)
    foreign_model = f.model(other)
    foreign_version = f.version(foreign_model)
    await f.save(db.sessions, pl, foreign_job, foreign_model, foreign_version)
    model = await register(db, project)
    before = await written(db)
    payload = await mutate(
        db,
        "createModelVersion",
        {
            "modelId": model["id"],
            "version": "1.0.0",
            "sourceRunId": gid(foreign_job),
            "parentVersionIds": [
                gid(foreign_version),
                "garbage",
                encode_global_id("ModelVersion", uuid.uuid4()),
            ],
        },
        "modelVersion { id }",
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID", ["input", "sourceRunId"]),
        ("NOT_FOUND", ["input", "parentVersionIds", "1"]),
        ("INVALID", ["input", "parentVersionIds", "0"]),
        ("NOT_FOUND", ["input", "parentVersionIds", "2"]),
    ]
    unknown_run = await mutate(
        db,
        "createModelVersion",
        {"modelId": model["id"], "version": "1.0.0", "sourceRunId": gid(foreign_model)},
        "modelVersion { id }",
    )
    assert codes(unknown_run) == ["NOT_FOUND"]
    assert unknown_run["userErrors"][0]["field"] == ["input", "sourceRunId"]
    assert await written(db) == before


async def test_lineage_is_visible_through_parents_and_children(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    other = await register(db, project, name="teacher")
    teacher = await create_version(db, other["id"], "3.0.0")
    v1 = await create_version(db, model["id"], "1.0.0")
    v2 = await create_version(db, model["id"], "1.1.0", parentVersionIds=[v1["id"]])
    v3 = await create_version(
        db, model["id"], "2.0.0", parentVersionIds=[v1["id"], v2["id"], teacher["id"], v1["id"]]
    )
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on ModelVersion { version
        parents { totalCount nodes { version } } children { totalCount nodes { version } } } } }"""
    nodes = (await db.data(query, {"ids": [v1["id"], v3["id"], teacher["id"]]}))["nodes"]
    first, third, teacher_node = nodes
    assert first["parents"]["totalCount"] == 0
    assert {n["version"] for n in first["children"]["nodes"]} == {"1.1.0", "2.0.0"}
    assert third["parents"]["totalCount"] == 3
    assert {n["version"] for n in third["parents"]["nodes"]} == {"1.0.0", "1.1.0", "3.0.0"}
    assert third["children"]["totalCount"] == 0
    assert teacher_node["children"]["nodes"] == [{"version": "2.0.0"}]


async def test_create_version_idempotency_key_replays(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    first = await create_version(db, model["id"], "1.0.0", idempotencyKey="v-1")
    before = await written(db)
    again = await create_version(db, model["id"], "1.0.0", idempotencyKey="v-1")
    assert again["id"] == first["id"]
    assert await written(db) == before


async def test_latest_follows_the_highest_semver(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    query = """query($id: ID!) { node(id: $id) { ... on Model { revision
        latest: version(alias: "latest") { version } missing: version(alias: "nope") { id }
        aliases { alias } } } }"""
    seen = []
    for version in ["1.2.0", "1.10.0", "1.9.0", "1.10.0-rc.1", "1.10.0+other-build"]:
        await create_version(db, model["id"], version)
        node = (await db.data(query, {"id": model["id"]}))["node"]
        assert node["missing"] is None
        assert node["aliases"] == [{"alias": "latest"}]
        seen.append(node["latest"]["version"])
    assert seen == ["1.2.0", "1.10.0", "1.10.0", "1.10.0", "1.10.0"]
    async with db.sessions() as s:
        latest = await s.scalar(
            select(func.count())
            .select_from(m.ModelAlias)
            .where(m.ModelAlias.model_id == pk(model["id"]), m.ModelAlias.alias == "latest")
        )
    assert latest == 1
    assert (await actions(db)).count("model_alias.set") == 2  # set once, moved once
    assert node["revision"] == 3  # each alias change is a change of the model


# --- transitions and the promotion policy ---------------------------------------------------

ALLOWED = {
    ("DRAFT", "STAGING"),
    ("DRAFT", "ARCHIVED"),
    ("STAGING", "PRODUCTION"),
    ("STAGING", "DRAFT"),
    ("STAGING", "ARCHIVED"),
    ("PRODUCTION", "STAGING"),
    ("PRODUCTION", "ARCHIVED"),
}


@pytest.mark.parametrize("source", [s.value for s in Stage])
@pytest.mark.parametrize("target", [s.value for s in Stage])
async def test_stage_transitions(db: Backend, source: str, target: str) -> None:
    project = f.project()
    model = f.model(project)
    version = f.version(model, stage=Stage(source))
    await f.save(db.sessions, project, model, version, weights(version.id, project.id))
    payload = await transition(db, gid(version), target, expectedRevision=1)
    if (source, target) in ALLOWED:
        assert payload == {"modelVersion": {"stage": target, "revision": 2}, "userErrors": []}
        assert await actions(db) == ["model_version.transition"]
        assert await topics(db) == ["model_version.transitioned"]
    else:
        assert payload["modelVersion"] is None
        assert codes(payload) == ["INVALID_TRANSITION"]
        assert payload["userErrors"][0]["field"] == ["input", "stage"]
        assert await written(db) == (0, 0)


async def test_promotion_names_every_failing_reason_until_each_is_fixed(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project, riskTier="HIGH", requiredMetrics=["auc", "f1"])
    version = await create_version(db, model["id"], "1.0.0", metrics={"auc": 0.9})
    assert (await transition(db, version["id"], "STAGING"))["userErrors"] == []

    async def refused(n: int) -> None:
        before = await written(db)
        payload = await transition(db, version["id"], "PRODUCTION")
        assert payload["modelVersion"] is None
        assert codes(payload) == ["POLICY_VIOLATION"] * n
        assert all(e["field"] == ["input", "versionId"] for e in payload["userErrors"])
        assert await written(db) == before

    await refused(3)  # f1 missing, no weights, no approval
    vid = pk(version["id"])
    await f.save(
        db.sessions,
        weights(vid, project.id, status=ArtifactStatus.PENDING),
        weights(vid, project.id, kind=ArtifactKind.METRICS),
    )
    await refused(3)  # a PENDING weights file or an AVAILABLE metrics file do not count
    await f.save(db.sessions, weights(vid, project.id))
    await refused(2)
    approved = await mutate(
        db,
        "approveModelVersion",
        {"versionId": version["id"], "comment": "looks good"},
        "modelVersion { id }",
    )
    assert approved["userErrors"] == []
    await refused(1)
    async with db.sessions() as s, s.begin():  # an evaluation job reports the missing metric
        row = await s.get_one(m.ModelVersion, vid)
        row.metrics = {**row.metrics, "f1": 0.8}
    promoted = await transition(db, version["id"], "PRODUCTION")
    assert promoted["userErrors"] == []
    assert promoted["modelVersion"]["stage"] == "PRODUCTION"


async def test_low_risk_promotion_needs_no_approval(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project, riskTier="MEDIUM")
    version = await create_version(db, model["id"], "1.0.0")
    await transition(db, version["id"], "STAGING")
    await f.save(db.sessions, weights(pk(version["id"]), project.id))
    promoted = await transition(db, version["id"], "PRODUCTION")
    assert promoted["modelVersion"]["stage"] == "PRODUCTION"


async def test_transition_with_stale_revision_is_a_conflict(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    version = await create_version(db, model["id"], "1.0.0")
    assert (await transition(db, version["id"], "STAGING", expectedRevision=1))["userErrors"] == []
    before = await written(db)
    stale = await transition(db, version["id"], "DRAFT", expectedRevision=1)
    assert codes(stale) == ["CONFLICT"]
    assert stale["userErrors"][0]["field"] == ["input", "expectedRevision"]
    assert await written(db) == before


async def test_concurrent_transitions_exactly_one_wins(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    version = await create_version(db, model["id"], "1.0.0")
    results = await asyncio.gather(
        *(
            transition(db, version["id"], "STAGING", expectedRevision=version["revision"])
            for _ in range(20)
        )
    )
    winners = [r for r in results if not r["userErrors"]]
    assert len(winners) == 1
    assert winners[0]["modelVersion"] == {"stage": "STAGING", "revision": 2}
    assert sorted(c for r in results for c in codes(r)) == ["CONFLICT"] * 19
    assert (await actions(db)).count("model_version.transition") == 1
    assert (await topics(db)).count("model_version.transitioned") == 1


async def test_concurrent_transitions_without_revision_refuse_the_repeat(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    version = await create_version(db, model["id"], "1.0.0")
    results = await asyncio.gather(*(transition(db, version["id"], "STAGING") for _ in range(5)))
    assert sorted(c for r in results for c in codes(r)) == ["INVALID_TRANSITION"] * 4
    assert (await actions(db)).count("model_version.transition") == 1


# --- approvals ------------------------------------------------------------------------------


async def test_one_approval_per_approver(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project, riskTier="HIGH")
    version = await create_version(db, model["id"], "1.0.0")
    first = await mutate(
        db, "approveModelVersion", {"versionId": version["id"]}, "modelVersion { id }"
    )
    assert first == {"modelVersion": {"id": version["id"]}, "userErrors": []}
    before = await written(db)
    again = await mutate(
        db, "approveModelVersion", {"versionId": version["id"]}, "modelVersion { id }"
    )
    assert codes(again) == ["DUPLICATE"]
    assert again["userErrors"][0]["field"] == ["input", "versionId"]
    assert await written(db) == before
    async with db.sessions() as s:
        approval = (await s.scalars(select(m.ModelVersionApproval))).one()
    assert approval.approver == ADMIN
    assert (await actions(db))[-1] == "model_version.approve"


async def test_archived_versions_cannot_be_approved(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    version = await create_version(db, model["id"], "1.0.0")
    await transition(db, version["id"], "ARCHIVED")
    before = await written(db)
    payload = await mutate(
        db, "approveModelVersion", {"versionId": version["id"]}, "modelVersion { id }"
    )
    assert codes(payload) == ["POLICY_VIOLATION"]
    assert payload["userErrors"][0]["field"] == ["input", "versionId"]
    assert await written(db) == before


# --- aliases --------------------------------------------------------------------------------


async def test_alias_set_then_moved_keeps_one_row(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    v1 = await create_version(db, model["id"], "1.0.0")
    v2 = await create_version(db, model["id"], "2.0.0")
    revision = (
        await db.data(
            "query($id: ID!) { node(id: $id) { ... on Model { revision } } }", {"id": model["id"]}
        )
    )["node"]["revision"]
    set_ = await mutate(
        db,
        "setModelAlias",
        {
            "modelId": model["id"],
            "alias": "champion",
            "versionId": v1["id"],
            "expectedRevision": revision,
        },
        ALIASES,
    )
    assert set_["userErrors"] == []
    assert {"alias": "champion", "version": {"version": "1.0.0"}} in set_["model"]["aliases"]
    moved = await mutate(
        db,
        "setModelAlias",
        {
            "modelId": model["id"],
            "alias": "champion",
            "versionId": v2["id"],
            "expectedRevision": revision + 1,
        },
        ALIASES,
    )
    assert moved["model"]["aliases"] == [
        {"alias": "champion", "version": {"version": "2.0.0"}},
        {"alias": "latest", "version": {"version": "2.0.0"}},
    ]
    assert moved["model"]["revision"] == revision + 2
    assert (await payloads(db))[-1] == {
        "modelId": model["id"],
        "alias": "champion",
        "versionId": v2["id"],
        "previousVersionId": v1["id"],
    }
    before = await written(db)
    same = await mutate(
        db,
        "setModelAlias",
        {"modelId": model["id"], "alias": "champion", "versionId": v2["id"]},
        ALIASES,
    )
    assert same["userErrors"] == []
    assert await written(db) == before  # pointing it where it points is a no-op
    stale = await mutate(
        db,
        "setModelAlias",
        {
            "modelId": model["id"],
            "alias": "champion",
            "versionId": v1["id"],
            "expectedRevision": revision,
        },
        ALIASES,
    )
    assert codes(stale) == ["CONFLICT"]
    assert await written(db) == before
    async with db.sessions() as s:
        rows = list(
            await s.scalars(
                select(m.ModelAlias).where(
                    m.ModelAlias.model_id == pk(model["id"]), m.ModelAlias.alias == "champion"
                )
            )
        )
    assert [r.version_id for r in rows] == [pk(v2["id"])]
    data = await db.data(
        """query($id: ID!) { node(id: $id) { ... on Model {
            champion: version(alias: "champion") { id } } } }""",
        {"id": model["id"]},
    )
    assert data["node"]["champion"] == {"id": v2["id"]}


@pytest.mark.parametrize(
    ("alias", "code"),
    [
        ("", "INVALID"),
        ("Champion", "INVALID"),
        ("-x", "INVALID"),
        ("a b", "INVALID"),
        ("a" * 65, "TOO_LONG"),
        ("latest", "POLICY_VIOLATION"),
    ],
)
async def test_invalid_aliases_are_refused(db: Backend, alias: str, code: str) -> None:
    project = await new_project(db)
    model = await register(db, project)
    version = await create_version(db, model["id"], "1.0.0")
    before = await written(db)
    payload = await mutate(
        db,
        "setModelAlias",
        {"modelId": model["id"], "alias": alias, "versionId": version["id"]},
        "model { id }",
    )
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == ["input", "alias"]
    assert await written(db) == before


async def test_alias_version_must_belong_to_the_model(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    other = await register(db, project, name="other")
    foreign = await create_version(db, other["id"], "1.0.0")
    before = await written(db)
    payload = await mutate(
        db,
        "setModelAlias",
        {"modelId": model["id"], "alias": "champion", "versionId": foreign["id"]},
        "model { id }",
    )
    assert codes(payload) == ["INVALID"]
    assert payload["userErrors"][0]["field"] == ["input", "versionId"]
    assert await written(db) == before


async def test_remove_alias(db: Backend) -> None:
    project = await new_project(db)
    model = await register(db, project)
    version = await create_version(db, model["id"], "1.0.0")
    await mutate(
        db,
        "setModelAlias",
        {"modelId": model["id"], "alias": "champion", "versionId": version["id"]},
        "model { id }",
    )
    removed = await mutate(
        db, "removeModelAlias", {"modelId": model["id"], "alias": "champion"}, ALIASES
    )
    assert removed["model"]["aliases"] == [{"alias": "latest", "version": {"version": "1.0.0"}}]
    assert (await actions(db))[-1] == "model_alias.remove"
    assert (await topics(db))[-1] == "model_alias.moved"
    before = await written(db)
    missing = await mutate(
        db, "removeModelAlias", {"modelId": model["id"], "alias": "champion"}, "model { id }"
    )
    assert codes(missing) == ["NOT_FOUND"]
    assert missing["userErrors"][0]["field"] == ["input", "alias"]
    latest = await mutate(
        db, "removeModelAlias", {"modelId": model["id"], "alias": "latest"}, "model { id }"
    )
    assert codes(latest) == ["POLICY_VIOLATION"]
    assert latest["userErrors"][0]["field"] == ["input", "alias"]
    assert await written(db) == before


SET_ALIAS = """mutation($input: SetModelAliasInput!) { setModelAlias(input: $input) {
    model { aliases { alias } } userErrors { field code } } }"""
REMOVE_ALIAS = """mutation($input: RemoveModelAliasInput!) { removeModelAlias(input: $input) {
    model { aliases { alias } } userErrors { field code } } }"""


async def test_protected_alias_needs_a_project_admin(db: Backend) -> None:
    project = f.project(protected_aliases=["production"])
    model = f.model(project)
    version = f.version(model)
    await f.save(db.sessions, project, model, version)
    roles = MappingProxyType
    editor = Principal("ed", "Editor", project_roles=roles({project.id: Role.EDITOR}))
    admin = Principal("ad", "Admin", project_roles=roles({project.id: Role.ADMIN}))
    production = {"modelId": gid(model), "alias": "production", "versionId": gid(version)}

    refused = await run_as(db, editor, SET_ALIAS, input=production)
    assert refused["setModelAlias"] == {
        "model": None,
        "userErrors": [{"field": ["input", "alias"], "code": "FORBIDDEN"}],
    }
    assert await written(db) == (0, 0)
    plain = await run_as(db, editor, SET_ALIAS, input={**production, "alias": "champion"})
    assert plain["setModelAlias"]["userErrors"] == []  # unprotected aliases are for editors too

    allowed = await run_as(db, admin, SET_ALIAS, input=production)
    assert allowed["setModelAlias"] == {
        "model": {"aliases": [{"alias": "champion"}, {"alias": "production"}]},
        "userErrors": [],
    }
    remove = {"modelId": gid(model), "alias": "production"}
    not_yours = await run_as(db, editor, REMOVE_ALIAS, input=remove)
    assert not_yours["removeModelAlias"]["userErrors"] == [
        {"field": ["input", "alias"], "code": "FORBIDDEN"}
    ]
    removed = await run_as(db, admin, REMOVE_ALIAS, input=remove)
    assert removed["removeModelAlias"]["model"] == {"aliases": [{"alias": "champion"}]}
    async with db.sessions() as s:
        actors = list(await s.scalars(select(m.AuditEntry.actor).order_by(m.AuditEntry.seq)))
    assert actors == ["ed", "ad", "ad"]


async def test_alias_on_an_invisible_model_is_not_found(db: Backend) -> None:
    project = f.project()
    model = f.model(project)
    version = f.version(model)
    await f.save(db.sessions, project, model, version)
    stranger = Principal("x", "Stranger")
    data = await run_as(
        db,
        stranger,
        SET_ALIAS,
        input={"modelId": gid(model), "alias": "champion", "versionId": gid(version)},
    )
    assert data["setModelAlias"]["userErrors"] == [
        {"field": ["input", "modelId"], "code": "NOT_FOUND"}
    ]
