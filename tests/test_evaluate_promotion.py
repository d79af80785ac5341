"""``Query.evaluatePromotion``: the promotion policy's dry run gives every reason
``transitionModelVersion`` gives, with the same codes and messages, and writes nothing."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from mlgraph.auth.principal import Principal
from mlgraph.context import Context
from mlgraph.ids import encode_global_id
from mlgraph.schema import build_schema
from mlgraph.storage import models as m
from mlgraph.storage.enums import RiskTier, Role, Stage
from mlgraph.storage.objects.local import LocalObjectStore
from tests import factories as f
from tests.conftest import Backend
from tests.test_mut_registry import gid, pk, weights
from tests.writes import mutate, written

SCHEMA = build_schema()
EVALUATE = """query($id: ID!, $stage: Stage!) {
  evaluatePromotion(versionId: $id, stage: $stage) {
    version { id stage } stage allowed reasons { field message code }
  }
}"""
TRANSITION = "modelVersion { stage }"
WRITES = ("INSERT", "UPDATE", "DELETE")


async def evaluate(db: Backend, version_id: str, stage: str) -> dict[str, Any]:
    """The dry run, counting the statements that would write: there must be none."""
    db.sql.start()
    data = await db.data(EVALUATE, {"id": version_id, "stage": stage})
    db.sql.stop()
    writes = [s for s in db.sql.statements if s.lstrip().upper().startswith(WRITES)]
    assert writes == []
    result: dict[str, Any] = data["evaluatePromotion"]
    return result


async def transition(db: Backend, version_id: str, stage: str) -> dict[str, Any]:
    return await mutate(
        db, "transitionModelVersion", {"versionId": version_id, "stage": stage}, TRANSITION
    )


def reasons_of(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, message) of a mutation's userErrors or a dry run's reasons."""
    found: list[dict[str, Any]] | None = payload.get("userErrors", payload.get("reasons"))
    assert found is not None
    return [(e["code"], e["message"]) for e in found]


async def same_answer(db: Backend, version_id: str, stage: str) -> list[tuple[str, str]]:
    """The dry run and the mutation agree; the dry run wrote nothing, the mutation nothing
    either when it refused. Returns the reasons."""
    before = await written(db)
    dry = await evaluate(db, version_id, stage)
    assert await written(db) == before
    real = await transition(db, version_id, stage)
    assert reasons_of(dry) == reasons_of(real)
    assert dry["allowed"] is (real["userErrors"] == [])
    assert dry["stage"] == stage
    if real["userErrors"]:
        assert await written(db) == before
    return reasons_of(dry)


async def test_each_reason_until_each_is_fixed(db: Backend) -> None:
    project = f.project()
    model = f.model(project, risk_tier=RiskTier.HIGH, required_metrics=["auc", "f1"])
    version = f.version(model, stage=Stage.STAGING, metrics={"auc": 0.9})
    await f.save(db.sessions, project, model, version)
    vid = gid(version)

    dry = await evaluate(db, vid, "PRODUCTION")
    assert dry["version"] == {"id": vid, "stage": "STAGING"}
    assert dry["allowed"] is False
    assert dry["reasons"] == [
        {
            "field": ["versionId"],
            "code": "POLICY_VIOLATION",
            "message": "required metric 'f1' is missing from the version's metrics",
        },
        {
            "field": ["versionId"],
            "code": "POLICY_VIOLATION",
            "message": "the version has no AVAILABLE artifact of kind WEIGHTS",
        },
        {
            "field": ["versionId"],
            "code": "POLICY_VIOLATION",
            "message": "a HIGH risk tier model needs at least one approval before PRODUCTION",
        },
    ]
    assert len(await same_answer(db, vid, "PRODUCTION")) == 3

    await f.save(db.sessions, weights(version.id, project.id))
    assert [r[1] for r in await same_answer(db, vid, "PRODUCTION")] == [
        "required metric 'f1' is missing from the version's metrics",
        "a HIGH risk tier model needs at least one approval before PRODUCTION",
    ]
    approved = await mutate(db, "approveModelVersion", {"versionId": vid}, "modelVersion { id }")
    assert approved["userErrors"] == []
    assert len(await same_answer(db, vid, "PRODUCTION")) == 1
    async with db.sessions() as s, s.begin():
        row = await s.get_one(m.ModelVersion, version.id)
        row.metrics = {"auc": 0.9, "f1": 0.8}
    dry = await evaluate(db, vid, "PRODUCTION")
    assert (dry["allowed"], dry["reasons"]) == (True, [])
    assert dry["version"]["stage"] == "STAGING"  # only the dry run: nothing moved
    assert await same_answer(db, vid, "PRODUCTION") == []  # and the mutation agrees: promoted


async def test_a_move_that_is_not_allowed_is_the_only_reason(db: Backend) -> None:
    project = f.project()
    model = f.model(project, risk_tier=RiskTier.HIGH, required_metrics=["auc"])
    draft = f.version(model)
    archived = f.version(model, stage=Stage.ARCHIVED)
    await f.save(db.sessions, project, model, draft, archived)
    dry = await evaluate(db, gid(draft), "PRODUCTION")
    assert dry["reasons"] == [
        {
            "field": ["stage"],
            "code": "INVALID_TRANSITION",
            "message": "a DRAFT version cannot move to PRODUCTION",
        }
    ]
    assert await same_answer(db, gid(draft), "PRODUCTION") == [
        ("INVALID_TRANSITION", "a DRAFT version cannot move to PRODUCTION")
    ]
    assert await same_answer(db, gid(archived), "STAGING") == [
        ("INVALID_TRANSITION", "a ARCHIVED version cannot move to STAGING")
    ]
    assert await same_answer(db, gid(draft), "DRAFT") == [
        ("INVALID_TRANSITION", "a DRAFT version cannot move to DRAFT")
    ]


async def test_an_archived_model_refuses_with_the_policy_reasons_too(db: Backend) -> None:
    project = f.project()
    model = f.model(project, required_metrics=["auc"], archived_at=f.tick())
    draft = f.version(model)
    staging = f.version(model, stage=Stage.STAGING)
    await f.save(db.sessions, project, model, draft, staging)
    archived = f"model {model.name!r} is archived"
    assert await same_answer(db, gid(draft), "STAGING") == [("POLICY_VIOLATION", archived)]
    assert await same_answer(db, gid(staging), "PRODUCTION") == [
        ("POLICY_VIOLATION", archived),
        ("POLICY_VIOLATION", "required metric 'auc' is missing from the version's metrics"),
        ("POLICY_VIOLATION", "the version has no AVAILABLE artifact of kind WEIGHTS"),
    ]
    assert await same_answer(db, gid(staging), "ARCHIVED") == []  # cleaning up stays possible


async def run_as(db: Backend, principal: Principal, version_id: str) -> Any:
    context = Context.create(
        principal=principal,
        request_id="test",
        settings=db.settings,
        sessions=db.sessions,
        objects=LocalObjectStore(Path("/nonexistent")),
    )
    result = await SCHEMA.execute(
        EVALUATE, variable_values={"id": version_id, "stage": "STAGING"}, context_value=context
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data["evaluatePromotion"]


async def test_nothing_of_another_project(db: Backend) -> None:
    mine, theirs = f.project(), f.project()
    my_model, their_model = f.model(mine), f.model(theirs)
    my_version, their_version = f.version(my_model), f.version(their_model)
    await f.save(db.sessions, mine, theirs, my_model, their_model, my_version, their_version)
    viewer = Principal("viewer", "Viewer", project_roles=MappingProxyType({mine.id: Role.VIEWER}))
    assert await run_as(db, viewer, gid(their_version)) is None
    own = await run_as(db, viewer, gid(my_version))  # reading the policy needs no write role
    assert (own["allowed"], own["reasons"]) == (True, [])


async def test_ids_that_are_not_versions_are_bad_input(db: Backend) -> None:
    project = f.project()
    await f.save(db.sessions, project)
    for bad in ("nope", gid(project)):
        body = await db.gql(EVALUATE, {"id": bad, "stage": "STAGING"})
        assert body["data"] == {"evaluatePromotion": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    missing = encode_global_id("ModelVersion", pk(encode_global_id("Model", project.id)))
    assert (await db.data(EVALUATE, {"id": missing, "stage": "STAGING"})) == {
        "evaluatePromotion": None
    }
