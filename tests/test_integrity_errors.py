"""A broken constraint is a lost race (DUPLICATE, CONFLICT) only when its name says so.

Anything else (a foreign key, a CHECK, NOT NULL, a unique key no writer races for) is a bug:
the client gets INTERNAL with the request id and nothing of the database's text, the log gets
the request id and the constraint, and the transaction leaves nothing behind.

The bugs are planted: ``createPipeline``'s rule is replaced, in the test server's process, by
one that writes a pipeline and its audit entry and then a row the database refuses.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from mlgraph.resolvers import pipelines
from mlgraph.resolvers.commands import Outcome
from mlgraph.storage import models as m
from mlgraph.storage.enums import JobKind, JobStatus
from tests import factories as f
from tests.conftest import Backend
from tests.writes import codes, mutate, written

CREATE = """mutation($input: CreatePipelineInput!) { createPipeline(input: $input) {
  pipeline { name } userErrors { code } } }"""


def _job(pipeline: m.Pipeline, **kw: Any) -> m.Job:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "project_id": pipeline.project_id,
        "pipeline_id": pipeline.id,
        "kind": JobKind.PIPELINE_RUN,
        "status": JobStatus.QUEUED,
        **kw,
    }
    return m.Job(**fields)


def _offending(case: str, pipeline: m.Pipeline, other: dict[str, Any]) -> list[Any]:
    """Rows the database refuses, next to a pipeline that is fine."""
    event = uuid.UUID(int=99)
    match case:
        case "foreign_key":
            return [_job(pipeline, pipeline_id=uuid.uuid4())]
        case "check":
            return [_job(pipeline, progress=float("inf"))]
        case "not_null":
            return [_job(pipeline, status=None)]
        case "unknown_unique":
            outbox = {"topic": "x", "entity_type": "Pipeline", "event_id": event}
            return [m.OutboxEvent(**outbox), m.OutboxEvent(**outbox)]
        case "duplicate":  # the pre-check skipped: a pipeline with a taken name
            return [m.Pipeline(id=uuid.uuid4(), project_id=pipeline.project_id, name="taken")]
        case "conflict":  # an alias two writers set at once
            alias = {"model_id": other["model"], "version_id": other["version"]}
            return [
                m.ModelAlias(project_id=pipeline.project_id, alias="champion", **alias),
                m.ModelAlias(project_id=pipeline.project_id, alias="champion", **alias),
            ]
    raise AssertionError(case)


def _planted(case: str, other: dict[str, Any], calls: list[int]) -> Callable[..., Any]:
    """``CreatePipeline.run`` writing the pipeline and then an offending row."""

    async def run(command: pipelines.CreatePipeline) -> Outcome:
        ctx, input = command.ctx, command.input
        calls.append(1)
        async with ctx.uow() as tx:
            pipeline = m.Pipeline(id=uuid.uuid4(), project_id=other["project"], name=input.name)
            tx.session.add(pipeline)
            await tx.session.flush()
            tx.record(pipeline, "pipeline.create", "pipeline.created", before=None, payload={})
            for row in _offending(case, pipeline, other):
                tx.session.add(row)
                await tx.session.flush()
        return Outcome(pipeline.id)

    return run


async def _setup(db: Backend) -> dict[str, Any]:
    p = f.project()
    pl = f.pipeline(p, name="taken")
    mdl = f.model(p)
    v = f.version(mdl)
    await f.save(db.sessions, p, pl, mdl, v)
    return {"project": p.id, "model": mdl.id, "version": v.id}


async def _pipelines_named(db: Backend, name: str) -> int:
    async with db.sessions() as s:
        found = await s.scalar(select(func.count()).where(m.Pipeline.name == name))
    return found or 0


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("foreign_key", "foreign_key"),
        ("check", "check"),
        ("not_null", "not_null"),
        ("unknown_unique", "unique"),
    ],
)
async def test_a_broken_constraint_that_is_no_race_is_internal_logged_and_rolled_back(
    db: Backend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    case: str,
    kind: str,
) -> None:
    other = await _setup(db)
    calls: list[int] = []
    monkeypatch.setattr(pipelines.CreatePipeline, "run", _planted(case, other, calls))
    before = await written(db)
    assert db.client is not None
    with caplog.at_level(logging.ERROR, logger="mlgraph.mutations"):
        response = await db.client.post(
            "/graphql",
            json={"query": CREATE, "variables": {"input": {"projectId": "x", "name": "new"}}},
        )
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    body = response.json()
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert body["data"] is None
    for leak in ("constraint", "Integrity", "sqlalchemy", "asyncpg", "sqlite", "job", "Trace"):
        assert leak.lower() not in response.text.lower()
    # Not retried (a bug does not go away), and nothing of it stayed.
    assert len(calls) == 1
    assert await _pipelines_named(db, "new") == 0
    assert await written(db) == before
    logged = [r for r in caplog.records if r.name == "mlgraph.mutations"]
    assert len(logged) == 1
    assert request_id in logged[0].getMessage()
    assert kind in logged[0].getMessage()
    assert logged[0].exc_info is not None


@pytest.mark.parametrize(("case", "code"), [("duplicate", "DUPLICATE"), ("conflict", "CONFLICT")])
async def test_a_race_lost_twice_answers_by_constraint_name(
    db: Backend, monkeypatch: pytest.MonkeyPatch, case: str, code: str
) -> None:
    other = await _setup(db)
    calls: list[int] = []
    monkeypatch.setattr(pipelines.CreatePipeline, "run", _planted(case, other, calls))
    before = await written(db)
    payload = await mutate(
        db, "createPipeline", {"projectId": "x", "name": "new"}, "pipeline { id }"
    )
    assert codes(payload) == [code]
    assert payload["pipeline"] is None
    assert len(calls) == 2  # retried once
    assert await _pipelines_named(db, "new") == 0
    assert await written(db) == before


async def test_concurrent_creates_of_one_name_make_one_and_say_duplicate(db: Backend) -> None:
    other = await _setup(db)
    project = (await db.data("{ projects { nodes { id } } }"))["projects"]["nodes"][0]["id"]
    assert other["project"]
    results = await asyncio.gather(
        *(
            mutate(db, "createPipeline", {"projectId": project, "name": "same"}, "pipeline { id }")
            for _ in range(6)
        )
    )
    outcomes = sorted(codes(r)[0] if codes(r) else "CREATED" for r in results)
    assert outcomes == ["CREATED", *["DUPLICATE"] * 5]
    assert await _pipelines_named(db, "same") == 1
