"""Pipeline and job mutations: node rules and locks, the job state machine, audit + outbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from mlgraph.ids import encode_global_id
from mlgraph.storage.enums import JobStatus
from mlgraph.storage.models import AuditEntry, Job, OutboxEvent, Pipeline
from tests import factories as f
from tests.conftest import Backend
from tests.writes import codes, mutate, written

PIPELINE = "pipeline { id name description nodes revision project { id } }"
JOB = (
    "job { id kind status progress message parameters startedAt finishedAt revision "
    "pipeline { id } project { id } }"
)
NODES: list[dict[str, Any]] = [
    {"id": "load", "kind": "ingest", "config": {"table": "tx"}},
    {"id": "train", "kind": "train", "config": {"lr": 0.1, "layers": [64, 32]}},
    {"id": "eval", "kind": "evaluate"},
]
STATUSES = [s.value for s in JobStatus]
ALLOWED = {
    ("QUEUED", "QUEUED"),
    ("QUEUED", "RUNNING"),
    ("QUEUED", "CANCELLED"),
    ("QUEUED", "FAILED"),
    ("RUNNING", "RUNNING"),
    ("RUNNING", "SUCCEEDED"),
    ("RUNNING", "FAILED"),
    ("RUNNING", "CANCELLED"),
}
BAD_IDS = ["nope", "UGlwZWxpbmU6", encode_global_id("Model", uuid.UUID(int=1))]


# --- helpers ------------------------------------------------------------------------------


async def project(db: Backend, slug: str = "fraud") -> str:
    payload = await mutate(db, "createProject", {"slug": slug, "name": slug}, "project { id }")
    assert payload["userErrors"] == []
    project_id: str = payload["project"]["id"]
    return project_id


async def pipeline(
    db: Backend, project_id: str, name: str = "train", nodes: list[Any] | None = None
) -> dict[str, Any]:
    payload = await mutate(
        db,
        "createPipeline",
        {"projectId": project_id, "name": name, "nodes": NODES if nodes is None else nodes},
        PIPELINE,
    )
    assert payload["userErrors"] == []
    result: dict[str, Any] = payload["pipeline"]
    return result


async def run(db: Backend, pipeline_id: str, **extra: Any) -> dict[str, Any]:
    payload = await mutate(db, "startPipelineRun", {"pipelineId": pipeline_id, **extra}, JOB)
    assert payload["userErrors"] == []
    result: dict[str, Any] = payload["job"]
    return result


async def job_in(db: Backend, status: str, **kw: Any) -> str:
    """A job in ``status`` straight through the ORM; returns its global id."""
    p = f.project()
    pl = f.pipeline(p)
    j = f.job(pl, status=JobStatus(status), **kw)
    await f.save(db.sessions, p, pl, j)
    return encode_global_id("Job", j.id)


async def lock(db: Backend, pipeline_id: str, *node_ids: str, verb: str = "lock") -> dict[str, Any]:
    return await mutate(
        db,
        f"{verb}PipelineNodes",
        {"pipelineId": pipeline_id, "nodeIds": list(node_ids)},
        PIPELINE,
    )


def field(payload: dict[str, Any], i: int = 0) -> list[str]:
    result: list[str] = payload["userErrors"][i]["field"]
    return result


async def last_audit_and_event(db: Backend) -> tuple[AuditEntry, OutboxEvent]:
    async with db.sessions() as s:
        entry = (await s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()))).first()
        event = (await s.scalars(select(OutboxEvent).order_by(OutboxEvent.position.desc()))).first()
    assert entry is not None
    assert event is not None
    return entry, event


async def refused(
    db: Backend, name: str, input: dict[str, Any], selection: str, code: str, path: list[str]
) -> dict[str, Any]:
    """Run a mutation that must be refused with ``code`` on ``path`` and write nothing."""
    before = await written(db)
    payload = await mutate(db, name, input, selection)
    assert codes(payload)[:1] == [code], payload
    assert field(payload) == path
    assert payload[selection.split(" ", 1)[0]] is None
    assert await written(db) == before
    return payload


# --- createPipeline -----------------------------------------------------------------------


async def test_create_pipeline_stores_nodes_unlocked_with_audit_and_outbox(db: Backend) -> None:
    pid = await project(db)
    before = await written(db)
    created = await pipeline(db, pid)
    assert await written(db) == (before[0] + 1, before[1] + 1)
    assert created["name"] == "train"
    assert created["description"] == ""
    assert created["revision"] == 1
    assert created["project"] == {"id": pid}
    assert created["nodes"] == [
        {"id": "load", "kind": "ingest", "config": {"table": "tx"}, "locked": False},
        {
            "id": "train",
            "kind": "train",
            "config": {"lr": 0.1, "layers": [64, 32]},
            "locked": False,
        },
        {"id": "eval", "kind": "evaluate", "config": None, "locked": False},
    ]
    entry, event = await last_audit_and_event(db)
    row_id = uuid.UUID(str(entry.entity_id))
    assert encode_global_id("Pipeline", row_id) == created["id"]
    assert (entry.action, entry.entity_type) == ("pipeline.create", "Pipeline")
    assert encode_global_id("Project", uuid.UUID(str(entry.project_id))) == pid
    assert entry.changes["before"] is None
    assert entry.changes["after"]["name"] == "train"
    assert [n["id"] for n in entry.changes["after"]["nodes"]] == ["load", "train", "eval"]
    assert (event.topic, event.entity_type, event.entity_id) == (
        "pipeline.created",
        "Pipeline",
        row_id,
    )
    assert event.project_id == entry.project_id


async def test_create_pipeline_without_nodes(db: Backend) -> None:
    pid = await project(db)
    payload = await mutate(
        db,
        "createPipeline",
        {"projectId": pid, "name": "empty", "description": "nothing yet"},
        PIPELINE,
    )
    assert payload["userErrors"] == []
    assert payload["pipeline"]["nodes"] == []
    assert payload["pipeline"]["description"] == "nothing yet"


def _nodes(n: int, **config: Any) -> list[dict[str, Any]]:
    return [{"id": f"n{i}", "kind": "step", "config": config or None} for i in range(n)]


@pytest.mark.parametrize(
    ("extra", "path", "code"),
    [
        ({"name": " "}, ["input", "name"], "INVALID"),
        ({"name": "x" * 201}, ["input", "name"], "TOO_LONG"),
        ({"description": "d" * 10_001}, ["input", "description"], "TOO_LONG"),
        ({"nodes": [{"id": "", "kind": "k"}]}, ["input", "nodes", "0", "id"], "INVALID"),
        ({"nodes": [{"id": "x" * 65, "kind": "k"}]}, ["input", "nodes", "0", "id"], "TOO_LONG"),
        ({"nodes": [{"id": "a\x00", "kind": "k"}]}, ["input", "nodes", "0", "id"], "INVALID"),
        ({"nodes": [{"id": "a", "kind": " "}]}, ["input", "nodes", "0", "kind"], "INVALID"),
        ({"nodes": [{"id": "a", "kind": "k" * 65}]}, ["input", "nodes", "0", "kind"], "TOO_LONG"),
        (
            {"nodes": [{"id": "a", "kind": "k"}, {"id": "b", "kind": "k", "config": "c" * 64_001}]},
            ["input", "nodes", "1", "config"],
            "TOO_LONG",
        ),
        (
            {
                "nodes": [
                    {"id": "a", "kind": "k"},
                    {"id": "b", "kind": "k"},
                    {"id": "a", "kind": "k"},
                ]
            },
            ["input", "nodes", "2", "id"],
            "INVALID",
        ),
        ({"nodes": _nodes(201)}, ["input", "nodes"], "LIMIT_EXCEEDED"),
        ({"nodes": _nodes(20, blob="b" * 60_000)}, ["input", "nodes"], "TOO_LONG"),
    ],
    ids=[
        "blank-name",
        "long-name",
        "long-description",
        "blank-node-id",
        "long-node-id",
        "control-char-node-id",
        "blank-kind",
        "long-kind",
        "config-too-big",
        "duplicate-node-id",
        "too-many-nodes",
        "node-list-too-big",
    ],
)
async def test_create_pipeline_invalid_input_writes_nothing(
    db: Backend, extra: dict[str, Any], path: list[str], code: str
) -> None:
    pid = await project(db)
    input = {"projectId": pid, "name": "p", **extra}
    payload = await refused(db, "createPipeline", input, "pipeline { id }", code, path)
    assert len(payload["userErrors"]) == 1


async def test_create_pipeline_reports_every_problem_at_once(db: Backend) -> None:
    pid = await project(db)
    payload = await mutate(
        db,
        "createPipeline",
        {
            "projectId": pid,
            "name": "",
            "nodes": [{"id": "a", "kind": ""}, {"id": "a", "kind": "k"}],
        },
        "pipeline { id }",
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID", ["input", "name"]),
        ("INVALID", ["input", "nodes", "0", "kind"]),
        ("INVALID", ["input", "nodes", "1", "id"]),
    ]


async def test_create_pipeline_accepts_200_nodes(db: Backend) -> None:
    pid = await project(db)
    created = await pipeline(db, pid, nodes=_nodes(200))
    assert len(created["nodes"]) == 200


async def test_create_pipeline_refuses_nan_in_config(db: Backend) -> None:
    """Python's JSON parser takes NaN; the server's strict JSON refuses the body outright."""
    pid = await project(db)
    node = {"id": "a", "kind": "k", "config": {"x": float("nan")}}
    query = (
        "mutation($input: CreatePipelineInput!) { createPipeline(input: $input) "
        "{ pipeline { id } userErrors { field code } } }"
    )
    body = json.dumps(
        {"query": query, "variables": {"input": {"projectId": pid, "name": "p", "nodes": [node]}}}
    )
    before = await written(db)
    assert db.client is not None
    response = await db.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert await written(db) == before


async def test_duplicate_pipeline_name_in_a_project(db: Backend) -> None:
    pid = await project(db)
    await pipeline(db, pid, name="nightly")
    await refused(
        db,
        "createPipeline",
        {"projectId": pid, "name": "nightly"},
        "pipeline { id }",
        "DUPLICATE",
        ["input", "name"],
    )
    other = await project(db, "other")
    assert (await pipeline(db, other, name="nightly"))["name"] == "nightly"


@pytest.mark.parametrize("bad_id", [*BAD_IDS, encode_global_id("Project", uuid.UUID(int=7))])
async def test_create_pipeline_in_unknown_project(db: Backend, bad_id: str) -> None:
    await refused(
        db,
        "createPipeline",
        {"projectId": bad_id, "name": "p"},
        "pipeline { id }",
        "NOT_FOUND",
        ["input", "projectId"],
    )


async def test_create_pipeline_idempotency(db: Backend) -> None:
    pid = await project(db)
    input = {"projectId": pid, "name": "p", "nodes": NODES, "idempotencyKey": "pl-1"}
    first = await mutate(db, "createPipeline", input, "pipeline { id }")
    assert first["userErrors"] == []
    before = await written(db)
    again = await mutate(db, "createPipeline", input, "pipeline { id }")
    assert again == first
    assert await written(db) == before
    changed = {**input, "nodes": NODES[:1]}
    await refused(
        db, "createPipeline", changed, "pipeline { id }", "CONFLICT", ["input", "idempotencyKey"]
    )
    async with db.sessions() as s:
        assert len((await s.scalars(select(Pipeline))).all()) == 1


# --- updatePipelineNodes ------------------------------------------------------------------


async def test_update_nodes_replaces_the_list(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    before = await written(db)
    new = [{"id": "train", "kind": "train", "config": {"lr": 0.01}}, {"id": "ship", "kind": "push"}]
    payload = await mutate(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "expectedRevision": 1, "nodes": new},
        PIPELINE,
    )
    assert payload["userErrors"] == []
    assert payload["pipeline"]["revision"] == 2
    assert payload["pipeline"]["nodes"] == [
        {"id": "train", "kind": "train", "config": {"lr": 0.01}, "locked": False},
        {"id": "ship", "kind": "push", "config": None, "locked": False},
    ]
    assert await written(db) == (before[0] + 1, before[1] + 1)
    entry, event = await last_audit_and_event(db)
    assert (entry.action, entry.entity_type) == ("pipeline.update_nodes", "Pipeline")
    assert [n["id"] for n in entry.changes["before"]["nodes"]] == ["load", "train", "eval"]
    assert [n["id"] for n in entry.changes["after"]["nodes"]] == ["train", "ship"]
    assert (entry.changes["before"]["revision"], entry.changes["after"]["revision"]) == (1, 2)
    assert (event.topic, event.payload["revision"]) == ("pipeline.updated", 2)
    cleared = await mutate(
        db, "updatePipelineNodes", {"pipelineId": created["id"], "nodes": []}, PIPELINE
    )
    assert cleared["pipeline"]["nodes"] == []


async def test_update_nodes_with_stale_revision_is_a_conflict(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    ok = await mutate(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "expectedRevision": 1, "nodes": NODES[:2]},
        "pipeline { revision }",
    )
    assert ok == {"pipeline": {"revision": 2}, "userErrors": []}
    await refused(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "expectedRevision": 1, "nodes": NODES[:1]},
        "pipeline { id }",
        "CONFLICT",
        ["input", "expectedRevision"],
    )


async def test_update_nodes_validates_like_create(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    dup = [{"id": "a", "kind": "k"}, {"id": "a", "kind": "k"}]
    await refused(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "nodes": dup},
        "pipeline { id }",
        "INVALID",
        ["input", "nodes", "1", "id"],
    )
    await refused(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "nodes": _nodes(201)},
        "pipeline { id }",
        "LIMIT_EXCEEDED",
        ["input", "nodes"],
    )


@pytest.mark.parametrize("bad_id", [*BAD_IDS, encode_global_id("Pipeline", uuid.UUID(int=7))])
async def test_update_nodes_of_unknown_pipeline(db: Backend, bad_id: str) -> None:
    await refused(
        db,
        "updatePipelineNodes",
        {"pipelineId": bad_id, "nodes": []},
        "pipeline { id }",
        "NOT_FOUND",
        ["input", "pipelineId"],
    )


@pytest.mark.parametrize(
    "nodes",
    [
        [NODES[0], {"id": "train", "kind": "finetune", "config": NODES[1]["config"]}, NODES[2]],
        [NODES[0], {"id": "train", "kind": "train", "config": {"lr": 0.2}}, NODES[2]],
        [NODES[0], {"id": "train", "kind": "train"}, NODES[2]],
        [NODES[0], NODES[2]],
    ],
    ids=["kind-changed", "config-changed", "config-dropped", "removed"],
)
async def test_locked_node_cannot_be_edited_or_removed(
    db: Backend, nodes: list[dict[str, Any]]
) -> None:
    created = await pipeline(db, await project(db))
    assert (await lock(db, created["id"], "train"))["userErrors"] == []
    await refused(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "nodes": nodes},
        "pipeline { id }",
        "LOCKED",
        ["input", "nodes"],
    )


async def test_every_locked_node_is_reported(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    await lock(db, created["id"], "load", "train")
    payload = await refused(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "nodes": [NODES[2]]},
        "pipeline { id }",
        "LOCKED",
        ["input", "nodes"],
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("LOCKED", ["input", "nodes"]),
        ("LOCKED", ["input", "nodes"]),
    ]


async def test_unchanged_locked_node_is_kept_locked(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    await lock(db, created["id"], "train")
    # The locked node unchanged (reordered, config keys in another order); the others edited.
    train = {"id": "train", "kind": "train", "config": {"layers": [64, 32], "lr": 0.1}}
    payload = await mutate(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "nodes": [train, {"id": "new", "kind": "push"}]},
        PIPELINE,
    )
    assert payload["userErrors"] == []
    assert [(n["id"], n["locked"]) for n in payload["pipeline"]["nodes"]] == [
        ("train", True),
        ("new", False),
    ]


async def test_locked_config_compares_as_json(db: Backend) -> None:
    """1 and 1.0 are the same JSON number; true is not 1 (as Python's == would say)."""
    nodes = [{"id": "a", "kind": "k", "config": {"flag": 1, "xs": [2, 3]}}]
    created = await pipeline(db, await project(db), nodes=nodes)
    await lock(db, created["id"], "a")
    as_bool = [{"id": "a", "kind": "k", "config": {"flag": True, "xs": [2, 3]}}]
    await refused(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "nodes": as_bool},
        "pipeline { id }",
        "LOCKED",
        ["input", "nodes"],
    )
    as_float = [{"id": "a", "kind": "k", "config": {"xs": [2.0, 3], "flag": 1.0}}]
    payload = await mutate(
        db, "updatePipelineNodes", {"pipelineId": created["id"], "nodes": as_float}, PIPELINE
    )
    assert payload["userErrors"] == []
    [kept] = payload["pipeline"]["nodes"]
    assert kept == {"id": "a", "kind": "k", "config": {"flag": 1, "xs": [2, 3]}, "locked": True}
    assert type(kept["config"]["flag"]) is int  # stored exactly as it was locked


# --- lockPipelineNodes / unlockPipelineNodes ----------------------------------------------


async def test_lock_and_unlock_nodes(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    before = await written(db)
    locked = await lock(db, created["id"], "load", "eval")
    assert locked["userErrors"] == []
    assert [(n["id"], n["locked"]) for n in locked["pipeline"]["nodes"]] == [
        ("load", True),
        ("train", False),
        ("eval", True),
    ]
    assert locked["pipeline"]["revision"] == 2
    assert await written(db) == (before[0] + 1, before[1] + 1)
    entry, event = await last_audit_and_event(db)
    assert (entry.action, entry.entity_type) == ("pipeline.lock_nodes", "Pipeline")
    assert entry.changes["before"]["locked"] == []
    assert entry.changes["after"]["locked"] == ["load", "eval"]
    assert event.topic == "pipeline.updated"

    # The lock state is visible to reads through Pipeline.nodes.
    read = await db.data(
        "query($id: ID!) { node(id: $id) { ... on Pipeline { nodes } } }", {"id": created["id"]}
    )
    assert [n["locked"] for n in read["node"]["nodes"]] == [True, False, True]

    again = await lock(db, created["id"], "load")
    assert again["userErrors"] == []
    assert [n["locked"] for n in again["pipeline"]["nodes"]] == [True, False, True]

    unlocked = await lock(db, created["id"], "load", verb="unlock")
    assert unlocked["userErrors"] == []
    assert [n["locked"] for n in unlocked["pipeline"]["nodes"]] == [False, False, True]
    entry, event = await last_audit_and_event(db)
    assert entry.action == "pipeline.unlock_nodes"
    assert entry.changes["after"]["locked"] == ["eval"]
    assert event.topic == "pipeline.updated"

    # An unlocked node can be removed again.
    edited = await mutate(
        db,
        "updatePipelineNodes",
        {"pipelineId": created["id"], "nodes": [NODES[2]]},
        PIPELINE,
    )
    assert edited["userErrors"] == []
    assert edited["pipeline"]["nodes"] == [
        {"id": "eval", "kind": "evaluate", "config": None, "locked": True}
    ]


@pytest.mark.parametrize("verb", ["lock", "unlock"])
async def test_lock_unknown_node_is_not_found(db: Backend, verb: str) -> None:
    created = await pipeline(db, await project(db))
    payload = await refused(
        db,
        f"{verb}PipelineNodes",
        {"pipelineId": created["id"], "nodeIds": ["load", "nope", "eval", "gone"]},
        "pipeline { id }",
        "NOT_FOUND",
        ["input", "nodeIds", "1"],
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "nodeIds", "1"]),
        ("NOT_FOUND", ["input", "nodeIds", "3"]),
    ]


@pytest.mark.parametrize("verb", ["lock", "unlock"])
async def test_lock_needs_node_ids(db: Backend, verb: str) -> None:
    created = await pipeline(db, await project(db))
    await refused(
        db,
        f"{verb}PipelineNodes",
        {"pipelineId": created["id"], "nodeIds": []},
        "pipeline { id }",
        "INVALID",
        ["input", "nodeIds"],
    )


@pytest.mark.parametrize("verb", ["lock", "unlock"])
async def test_lock_with_stale_revision_is_a_conflict(db: Backend, verb: str) -> None:
    created = await pipeline(db, await project(db))
    assert (await lock(db, created["id"], "train"))["pipeline"]["revision"] == 2
    await refused(
        db,
        f"{verb}PipelineNodes",
        {"pipelineId": created["id"], "nodeIds": ["train"], "expectedRevision": 1},
        "pipeline { id }",
        "CONFLICT",
        ["input", "expectedRevision"],
    )


@pytest.mark.parametrize("verb", ["lock", "unlock"])
@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_lock_on_unknown_pipeline(db: Backend, verb: str, bad_id: str) -> None:
    await refused(
        db,
        f"{verb}PipelineNodes",
        {"pipelineId": bad_id, "nodeIds": ["a"]},
        "pipeline { id }",
        "NOT_FOUND",
        ["input", "pipelineId"],
    )


# --- startPipelineRun ---------------------------------------------------------------------


async def test_start_pipeline_run_queues_a_job(db: Backend) -> None:
    pid = await project(db)
    created = await pipeline(db, pid)
    before = await written(db)
    job = await run(db, created["id"], parameters={"epochs": 3, "data": {"from": "2026-01"}})
    assert await written(db) == (before[0] + 1, before[1] + 1)
    assert {k: job[k] for k in ("kind", "status", "progress", "message", "revision")} == {
        "kind": "PIPELINE_RUN",
        "status": "QUEUED",
        "progress": 0.0,
        "message": "",
        "revision": 1,
    }
    assert job["parameters"] == {"epochs": 3, "data": {"from": "2026-01"}}
    assert (job["startedAt"], job["finishedAt"]) == (None, None)
    assert job["pipeline"] == {"id": created["id"]}
    assert job["project"] == {"id": pid}
    entry, event = await last_audit_and_event(db)
    assert (entry.action, entry.entity_type) == ("job.start", "Job")
    assert encode_global_id("Job", uuid.UUID(str(entry.entity_id))) == job["id"]
    assert encode_global_id("Project", uuid.UUID(str(entry.project_id))) == pid
    assert entry.changes["after"]["status"] == "QUEUED"
    assert event.topic == "job.created"
    assert event.payload["status"] == "QUEUED"
    runs = await db.data(
        "query($id: ID!) { node(id: $id) { ... on Pipeline { runs(first: 5) { nodes { id } } } } }",
        {"id": created["id"]},
    )
    assert runs["node"]["runs"]["nodes"] == [{"id": job["id"]}]


async def test_start_pipeline_run_without_parameters(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    assert (await run(db, created["id"]))["parameters"] == {}


@pytest.mark.parametrize(
    ("parameters", "code"),
    [([1, 2], "INVALID"), ("text", "INVALID"), (3, "INVALID"), ({"b": "x" * 64_001}, "TOO_LONG")],
    ids=["list", "string", "number", "too-big"],
)
async def test_start_pipeline_run_bad_parameters(db: Backend, parameters: Any, code: str) -> None:
    created = await pipeline(db, await project(db))
    await refused(
        db,
        "startPipelineRun",
        {"pipelineId": created["id"], "parameters": parameters},
        "job { id }",
        code,
        ["input", "parameters"],
    )


@pytest.mark.parametrize("bad_id", [*BAD_IDS, encode_global_id("Pipeline", uuid.UUID(int=7))])
async def test_start_run_of_unknown_pipeline(db: Backend, bad_id: str) -> None:
    await refused(
        db,
        "startPipelineRun",
        {"pipelineId": bad_id},
        "job { id }",
        "NOT_FOUND",
        ["input", "pipelineId"],
    )


async def test_start_pipeline_run_idempotency(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    input = {"pipelineId": created["id"], "parameters": {"a": 1}, "idempotencyKey": "run-1"}
    first = await mutate(db, "startPipelineRun", input, "job { id }")
    assert first["userErrors"] == []
    before = await written(db)
    again = await mutate(db, "startPipelineRun", input, "job { id }")
    assert again == first
    assert await written(db) == before
    await refused(
        db,
        "startPipelineRun",
        {**input, "parameters": {"a": 2}},
        "job { id }",
        "CONFLICT",
        ["input", "idempotencyKey"],
    )
    async with db.sessions() as s:
        assert len((await s.scalars(select(Job))).all()) == 1


# --- updateJob ----------------------------------------------------------------------------


@pytest.mark.parametrize("to", STATUSES)
@pytest.mark.parametrize("start", STATUSES)
async def test_job_state_machine(db: Backend, start: str, to: str) -> None:
    job_id = await job_in(db, start)
    before = await written(db)
    payload = await mutate(db, "updateJob", {"jobId": job_id, "status": to}, "job { status }")
    if (start, to) in ALLOWED:
        assert payload == {"job": {"status": to}, "userErrors": []}
        assert await written(db) == (before[0] + 1, before[1] + 1)
    else:
        assert codes(payload) == ["INVALID_TRANSITION"]
        assert field(payload) == ["input", "status"]
        assert payload["job"] is None
        assert await written(db) == before


@pytest.mark.parametrize("start", ["SUCCEEDED", "FAILED", "CANCELLED"])
@pytest.mark.parametrize("change", [{"progress": 0.5}, {"message": "late"}])
async def test_terminal_job_refuses_reports(
    db: Backend, start: str, change: dict[str, Any]
) -> None:
    job_id = await job_in(db, start)
    await refused(
        db,
        "updateJob",
        {"jobId": job_id, **change},
        "job { id }",
        "INVALID_TRANSITION",
        ["input", "jobId"],
    )


async def test_job_lifecycle_timestamps_audit_and_events(db: Backend) -> None:
    created = await pipeline(db, await project(db))
    job = await run(db, created["id"])
    update = "job { status progress message startedAt finishedAt revision }"

    report = await mutate(db, "updateJob", {"jobId": job["id"], "message": "waiting"}, update)
    assert report["userErrors"] == []
    assert report["job"]["status"] == "QUEUED"
    assert (report["job"]["startedAt"], report["job"]["finishedAt"]) == (None, None)

    started = await mutate(
        db, "updateJob", {"jobId": job["id"], "status": "RUNNING", "progress": 0.25}, update
    )
    assert started["userErrors"] == []
    assert started["job"]["startedAt"] is not None
    assert started["job"]["finishedAt"] is None
    entry, event = await last_audit_and_event(db)
    assert (entry.action, entry.entity_type) == ("job.update", "Job")
    reported = ("status", "progress", "message")
    assert {side: {k: entry.changes[side][k] for k in reported} for side in entry.changes} == {
        "before": {"status": "QUEUED", "progress": 0.0, "message": "waiting"},
        "after": {"status": "RUNNING", "progress": 0.25, "message": "waiting"},
    }
    assert (event.topic, event.payload) == ("job.updated", {"status": "RUNNING", "progress": 0.25})

    progress = await mutate(
        db,
        "updateJob",
        {"jobId": job["id"], "status": "RUNNING", "progress": 0.5, "message": "epoch 2"},
        update,
    )
    assert progress["job"]["startedAt"] == started["job"]["startedAt"]
    assert (progress["job"]["progress"], progress["job"]["message"]) == (0.5, "epoch 2")

    done = await mutate(db, "updateJob", {"jobId": job["id"], "status": "SUCCEEDED"}, update)
    assert done["userErrors"] == []
    assert done["job"]["progress"] == 1.0
    assert done["job"]["startedAt"] == started["job"]["startedAt"]
    assert done["job"]["finishedAt"] is not None
    assert done["job"]["finishedAt"] >= done["job"]["startedAt"]
    assert done["job"]["revision"] == 5
    _, event = await last_audit_and_event(db)
    assert event.payload == {"status": "SUCCEEDED", "progress": 1.0}


@pytest.mark.parametrize("to", ["FAILED", "CANCELLED"])
async def test_queued_job_can_finish_without_starting(db: Backend, to: str) -> None:
    job_id = await job_in(db, "QUEUED")
    payload = await mutate(
        db, "updateJob", {"jobId": job_id, "status": to}, "job { startedAt finishedAt progress }"
    )
    assert payload["userErrors"] == []
    assert payload["job"]["startedAt"] is None
    assert payload["job"]["finishedAt"] is not None
    assert payload["job"]["progress"] == 0.0


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        ({"progress": 1.5}, ["input", "progress"], "INVALID"),
        ({"progress": -0.1}, ["input", "progress"], "INVALID"),
        ({"message": "m" * 2001}, ["input", "message"], "TOO_LONG"),
        ({"message": "bell\x07"}, ["input", "message"], "INVALID"),
        ({}, ["input"], "INVALID"),
    ],
    ids=["progress-high", "progress-low", "long-message", "control-char", "nothing"],
)
async def test_update_job_invalid_input(
    db: Backend, change: dict[str, Any], path: list[str], code: str
) -> None:
    job_id = await job_in(db, "RUNNING")
    await refused(db, "updateJob", {"jobId": job_id, **change}, "job { id }", code, path)


async def test_update_job_accepts_progress_bounds(db: Backend) -> None:
    job_id = await job_in(db, "RUNNING")
    for value in (0, 0.0, 1, 1.0):  # the bounds, as Int and Float (progress never goes back)
        payload = await mutate(
            db, "updateJob", {"jobId": job_id, "progress": value}, "job { progress }"
        )
        assert payload == {"job": {"progress": float(value)}, "userErrors": []}


async def test_update_job_with_stale_revision_is_a_conflict(db: Backend) -> None:
    job_id = await job_in(db, "QUEUED")
    ok = await mutate(
        db,
        "updateJob",
        {"jobId": job_id, "status": "RUNNING", "expectedRevision": 1},
        "job { revision }",
    )
    assert ok == {"job": {"revision": 2}, "userErrors": []}
    await refused(
        db,
        "updateJob",
        {"jobId": job_id, "progress": 0.5, "expectedRevision": 1},
        "job { id }",
        "CONFLICT",
        ["input", "expectedRevision"],
    )


@pytest.mark.parametrize("bad_id", [*BAD_IDS, encode_global_id("Job", uuid.UUID(int=7))])
async def test_update_unknown_job(db: Backend, bad_id: str) -> None:
    await refused(
        db,
        "updateJob",
        {"jobId": bad_id, "progress": 0.5},
        "job { id }",
        "NOT_FOUND",
        ["input", "jobId"],
    )


async def test_concurrent_updates_with_one_revision_one_wins(db: Backend) -> None:
    job_id = await job_in(db, "RUNNING")
    before = await written(db)
    results = await asyncio.gather(
        *(
            mutate(
                db,
                "updateJob",
                {"jobId": job_id, "progress": i / 10, "expectedRevision": 1},
                "job { progress revision }",
            )
            for i in range(10)
        )
    )
    winners = [r for r in results if r["userErrors"] == []]
    losers = [r for r in results if r["userErrors"]]
    assert len(winners) == 1
    assert winners[0]["job"]["revision"] == 2
    assert len(losers) == 9
    assert all(codes(r) == ["CONFLICT"] and r["job"] is None for r in losers)
    assert await written(db) == (before[0] + 1, before[1] + 1)
    async with db.sessions() as s:
        row = (await s.scalars(select(Job))).one()
    assert (row.revision, row.progress) == (2, winners[0]["job"]["progress"])


# --- cancelJob ----------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["QUEUED", "RUNNING"])
async def test_cancel_job(db: Backend, start: str) -> None:
    job_id = await job_in(db, start)
    before = await written(db)
    payload = await mutate(
        db,
        "cancelJob",
        {"jobId": job_id, "reason": "superseded"},
        "job { status message finishedAt }",
    )
    assert payload["userErrors"] == []
    assert payload["job"]["status"] == "CANCELLED"
    assert payload["job"]["message"] == "superseded"
    assert payload["job"]["finishedAt"] is not None
    assert await written(db) == (before[0] + 1, before[1] + 1)
    entry, event = await last_audit_and_event(db)
    assert (entry.action, entry.entity_type) == ("job.cancel", "Job")
    assert entry.changes["before"]["status"] == start
    assert entry.changes["after"]["status"] == "CANCELLED"
    assert (event.topic, event.payload["status"]) == ("job.updated", "CANCELLED")


async def test_cancel_job_default_message(db: Backend) -> None:
    job_id = await job_in(db, "RUNNING", message="epoch 3")
    payload = await mutate(db, "cancelJob", {"jobId": job_id}, "job { message }")
    assert payload == {"job": {"message": "cancelled"}, "userErrors": []}


@pytest.mark.parametrize("start", ["SUCCEEDED", "FAILED", "CANCELLED"])
async def test_cancel_finished_job_is_an_invalid_transition(db: Backend, start: str) -> None:
    job_id = await job_in(db, start)
    await refused(
        db, "cancelJob", {"jobId": job_id}, "job { id }", "INVALID_TRANSITION", ["input", "jobId"]
    )


async def test_cancel_job_invalid_input(db: Backend) -> None:
    job_id = await job_in(db, "RUNNING")
    await refused(
        db,
        "cancelJob",
        {"jobId": job_id, "reason": "r" * 2001},
        "job { id }",
        "TOO_LONG",
        ["input", "reason"],
    )
    for bad_id in BAD_IDS:
        await refused(
            db, "cancelJob", {"jobId": bad_id}, "job { id }", "NOT_FOUND", ["input", "jobId"]
        )
