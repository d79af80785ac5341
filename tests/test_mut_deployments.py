"""Deployment mutations: create, shift traffic, promote, roll back.

Every success writes the deployment change, one DeploymentEvent, one audit entry and one
``deployment.updated`` outbox event together; every refusal writes none of them.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, update

from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import DeploymentStatus, Stage
from tests import factories as f
from tests.conftest import ADMIN, Backend
from tests.writes import codes, mutate, written

DEPLOYMENT = (
    "deployment { id name status strategy environment revision config "
    "targets { trafficPercent version { id } } }"
)


@dataclass
class Setup:
    project: m.Project
    model: m.Model
    versions: list[m.ModelVersion]
    other_model: m.Model
    other_version: m.ModelVersion

    @property
    def model_id(self) -> str:
        return encode_global_id("Model", self.model.id)

    def v(self, i: int) -> str:
        return encode_global_id("ModelVersion", self.versions[i].id)


async def setup(db: Backend, n: int = 4, **model_kw: Any) -> Setup:
    """A project with a model of ``n`` STAGING versions (oldest first) and another model."""
    p = f.project()
    md = f.model(p, **model_kw)
    versions = [f.version(md, stage=Stage.STAGING) for _ in range(n)]
    other = f.model(p)
    other_v = f.version(other, stage=Stage.STAGING)
    await f.save(db.sessions, p, md, *versions, other, other_v)
    return Setup(p, md, versions, other, other_v)


async def create(db: Backend, s: Setup, version: int = 0, **extra: Any) -> dict[str, Any]:
    payload = await mutate(
        db,
        "createDeployment",
        {
            "modelId": s.model_id,
            "name": "fraud-api",
            "environment": "PRODUCTION",
            "strategy": "CANARY",
            "versionId": s.v(version),
            **extra,
        },
        DEPLOYMENT,
    )
    assert payload["userErrors"] == []
    deployment: dict[str, Any] = payload["deployment"]
    return deployment


def traffic(deployment: dict[str, Any]) -> dict[str, float]:
    return {t["version"]["id"]: t["trafficPercent"] for t in deployment["targets"]}


async def counts(db: Backend) -> tuple[int, int, int]:
    """(audit entries, outbox events, deployment events)."""
    async with db.sessions() as session:
        events = await session.scalar(select(func.count()).select_from(m.DeploymentEvent))
    return (*await written(db), events or 0)


async def events(db: Backend) -> list[m.DeploymentEvent]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(m.DeploymentEvent).order_by(m.DeploymentEvent.created_at)
        )
        return list(rows.all())


async def shift(
    db: Backend, deployment: dict[str, Any], splits: list[tuple[str, float]], **extra: Any
) -> dict[str, Any]:
    return await mutate(
        db,
        "shiftTraffic",
        {
            "deploymentId": deployment["id"],
            "splits": [{"versionId": v, "percent": p} for v, p in splits],
            **extra,
        },
        DEPLOYMENT,
    )


async def set_stage(db: Backend, version: m.ModelVersion, stage: Stage) -> None:
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(m.ModelVersion).where(m.ModelVersion.id == version.id).values(stage=stage)
        )


# --- createDeployment ------------------------------------------------------------------------


async def test_create_writes_deployment_target_event_audit_and_outbox(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s, config={"canary": {"step": 10}})
    assert deployment["status"] == "ACTIVE"
    assert deployment["strategy"] == "CANARY"
    assert deployment["environment"] == "PRODUCTION"
    assert deployment["config"] == {"canary": {"step": 10}}
    assert deployment["revision"] == 1
    assert traffic(deployment) == {s.v(0): 100.0}
    assert await counts(db) == (1, 1, 1)
    async with db.sessions() as session:
        entry = (await session.scalars(select(m.AuditEntry))).one()
        outbox = (await session.scalars(select(m.OutboxEvent))).one()
        event = (await session.scalars(select(m.DeploymentEvent))).one()
    assert (entry.action, entry.entity_type, entry.actor) == (
        "deployment.create",
        "Deployment",
        ADMIN,
    )
    assert entry.changes["before"] is None
    assert entry.changes["after"]["traffic"] == {s.v(0): 100.0}
    assert entry.changes["after"]["status"] == "ACTIVE"
    assert outbox.topic == "deployment.updated"
    assert outbox.payload == {
        "kind": "CREATED",
        "deploymentId": deployment["id"],
        "deploymentEventId": str(event.id),
    }
    assert (event.kind.value, event.actor) == ("CREATED", ADMIN)
    assert event.data == {"from": {}, "to": {s.v(0): 100.0}}


CREATE_ERRORS: list[tuple[Callable[[Setup], dict[str, Any]], list[str], str]] = [
    (lambda s: {"name": " "}, ["input", "name"], "INVALID"),
    (lambda s: {"name": "n" * 201}, ["input", "name"], "TOO_LONG"),
    (lambda s: {"config": [1, 2]}, ["input", "config"], "INVALID"),
    (lambda s: {"config": {"blob": "x" * 20_000}}, ["input", "config"], "TOO_LONG"),
    (lambda s: {"modelId": "nope"}, ["input", "modelId"], "NOT_FOUND"),
    (
        lambda s: {"modelId": encode_global_id("Model", uuid.uuid4())},
        ["input", "modelId"],
        "NOT_FOUND",
    ),
    (lambda s: {"modelId": s.v(0)}, ["input", "modelId"], "NOT_FOUND"),
    (
        lambda s: {"versionId": encode_global_id("ModelVersion", uuid.uuid4())},
        ["input", "versionId"],
        "NOT_FOUND",
    ),
    (
        lambda s: {"versionId": encode_global_id("ModelVersion", s.other_version.id)},
        ["input", "versionId"],
        "INVALID",
    ),
]


@pytest.mark.parametrize(("change", "field", "code"), CREATE_ERRORS)
async def test_create_refusals_write_nothing(
    db: Backend, change: Callable[[Setup], dict[str, Any]], field: list[str], code: str
) -> None:
    s = await setup(db)
    payload = await mutate(
        db,
        "createDeployment",
        {
            "modelId": s.model_id,
            "name": "api",
            "environment": "STAGING",
            "strategy": "ROLLING",
            "versionId": s.v(0),
            **change(s),
        },
        "deployment { id }",
    )
    assert payload["deployment"] is None
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert await counts(db) == (0, 0, 0)


async def test_create_refuses_archived_version_and_archived_model(db: Backend) -> None:
    s = await setup(db)
    await set_stage(db, s.versions[0], Stage.ARCHIVED)
    archived_version = await mutate(
        db,
        "createDeployment",
        {
            "modelId": s.model_id,
            "name": "api",
            "environment": "STAGING",
            "strategy": "ROLLING",
            "versionId": s.v(0),
        },
        "deployment { id }",
    )
    assert codes(archived_version) == ["POLICY_VIOLATION"]
    assert archived_version["userErrors"][0]["field"] == ["input", "versionId"]

    archived = await setup(db, archived_at=f.tick())
    archived_model = await mutate(
        db,
        "createDeployment",
        {
            "modelId": archived.model_id,
            "name": "api",
            "environment": "STAGING",
            "strategy": "ROLLING",
            "versionId": archived.v(0),
        },
        "deployment { id }",
    )
    assert codes(archived_model) == ["POLICY_VIOLATION"]
    assert archived_model["userErrors"][0]["field"] == ["input", "modelId"]
    assert await counts(db) == (0, 0, 0)
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.Deployment)) == 0


async def test_create_duplicate_name_in_project(db: Backend) -> None:
    s = await setup(db)
    await create(db, s)
    before = await counts(db)
    again = await mutate(
        db,
        "createDeployment",
        {
            "modelId": encode_global_id("Model", s.other_model.id),
            "name": "fraud-api",
            "environment": "STAGING",
            "strategy": "ROLLING",
            "versionId": encode_global_id("ModelVersion", s.other_version.id),
        },
        "deployment { id }",
    )
    assert codes(again) == ["DUPLICATE"]
    assert again["userErrors"][0]["field"] == ["input", "name"]
    assert await counts(db) == before
    elsewhere = await setup(db)
    assert (await create(db, elsewhere))["name"] == "fraud-api"


async def test_create_idempotency_key_replays(db: Backend) -> None:
    s = await setup(db)
    first = await create(db, s, idempotencyKey="dep-1")
    before = await counts(db)
    again = await create(db, s, idempotencyKey="dep-1")
    assert again["id"] == first["id"]
    assert await counts(db) == before
    other = await mutate(
        db,
        "createDeployment",
        {
            "modelId": s.model_id,
            "name": "other",
            "environment": "STAGING",
            "strategy": "ROLLING",
            "versionId": s.v(1),
            "idempotencyKey": "dep-1",
        },
        "deployment { id }",
    )
    assert codes(other) == ["CONFLICT"]
    assert other["userErrors"][0]["field"] == ["input", "idempotencyKey"]


# --- shiftTraffic ----------------------------------------------------------------------------


async def test_shift_traffic_replaces_split_and_records_it(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    before = await counts(db)
    payload = await shift(db, deployment, [(s.v(0), 70), (s.v(1), 30)], expectedRevision=1)
    assert payload["userErrors"] == []
    shifted = payload["deployment"]
    assert traffic(shifted) == {s.v(0): 70.0, s.v(1): 30.0}
    assert [t["trafficPercent"] for t in shifted["targets"]] == [70.0, 30.0]
    assert shifted["revision"] == 2
    assert shifted["status"] == "ACTIVE"
    assert await counts(db) == tuple(n + 1 for n in before)
    event = (await events(db))[-1]
    assert event.kind.value == "TRAFFIC_SHIFTED"
    assert event.actor == ADMIN
    assert event.data == {"from": {s.v(0): 100.0}, "to": {s.v(0): 70.0, s.v(1): 30.0}}
    async with db.sessions() as session:
        entry = (
            await session.scalars(select(m.AuditEntry).order_by(m.AuditEntry.seq.desc()))
        ).first()
        outbox = (
            await session.scalars(select(m.OutboxEvent).order_by(m.OutboxEvent.position.desc()))
        ).first()
    assert entry is not None
    assert outbox is not None
    assert entry.action == "deployment.shift_traffic"
    assert entry.changes["before"]["traffic"] == {s.v(0): 100.0}
    assert entry.changes["after"]["traffic"] == {s.v(0): 70.0, s.v(1): 30.0}
    assert entry.changes["after"]["revision"] == 2
    assert outbox.payload["kind"] == "TRAFFIC_SHIFTED"
    assert outbox.payload["deploymentId"] == deployment["id"]
    assert outbox.payload["deploymentEventId"] == str(event.id)

    # A replacement: versions left out or at 0 stop being targets.
    again = await shift(db, deployment, [(s.v(1), 50), (s.v(2), 50), (s.v(0), 0)])
    assert traffic(again["deployment"]) == {s.v(1): 50.0, s.v(2): 50.0}
    assert again["deployment"]["revision"] == 3
    async with db.sessions() as session:
        rows = (await session.scalars(select(m.DeploymentTarget))).all()
    assert {(r.version_id, r.traffic_percent) for r in rows} == {
        (s.versions[1].id, 50.0),
        (s.versions[2].id, 50.0),
    }


async def test_shift_traffic_may_leave_part_of_the_traffic_unassigned(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    payload = await shift(db, deployment, [(s.v(0), 50), (s.v(1), 25)])
    assert traffic(payload["deployment"]) == {s.v(0): 50.0, s.v(1): 25.0}


async def test_shift_traffic_sum_allows_float_rounding_only(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    third = 33.33333333333334  # 3 x this is 100.00000000000003 in floats
    assert math.fsum([third] * 3) > 100
    ok = await shift(db, deployment, [(s.v(0), third), (s.v(1), third), (s.v(2), third)])
    assert ok["userErrors"] == []
    before = await counts(db)
    over = await shift(db, deployment, [(s.v(0), 50), (s.v(1), 50.000001)])
    assert codes(over) == ["LIMIT_EXCEEDED"]
    assert over["userErrors"][0]["field"] == ["input", "splits"]
    assert await counts(db) == before


SHIFT_ERRORS: list[tuple[Callable[[Setup], list[tuple[str, float]]], list[str], str]] = [
    (lambda s: [(s.v(0), 100.5)], ["input", "splits", "0", "percent"], "INVALID"),
    (lambda s: [(s.v(0), 90), (s.v(1), -10)], ["input", "splits", "1", "percent"], "INVALID"),
    (lambda s: [(s.v(0), 70), (s.v(1), 40)], ["input", "splits"], "LIMIT_EXCEEDED"),
    (lambda s: [(s.v(0), 50), (s.v(0), 50)], ["input", "splits", "1", "versionId"], "INVALID"),
    (lambda s: [], ["input", "splits"], "INVALID"),
    (lambda s: [(s.v(0), 0), (s.v(1), 0)], ["input", "splits"], "INVALID"),
    (
        lambda s: [(s.v(0), 50), ("bad-id", 50)],
        ["input", "splits", "1", "versionId"],
        "NOT_FOUND",
    ),
    (
        lambda s: [(s.v(0), 50), (encode_global_id("ModelVersion", uuid.uuid4()), 50)],
        ["input", "splits", "1", "versionId"],
        "NOT_FOUND",
    ),
    (
        lambda s: [(s.v(0), 50), (s.model_id, 50)],
        ["input", "splits", "1", "versionId"],
        "NOT_FOUND",
    ),
    (
        lambda s: [(s.v(0), 50), (encode_global_id("ModelVersion", s.other_version.id), 50)],
        ["input", "splits", "1", "versionId"],
        "INVALID",
    ),
    (
        lambda s: [(encode_global_id("ModelVersion", uuid.uuid4()), 1)] * 11,
        ["input", "splits"],
        "LIMIT_EXCEEDED",
    ),
]


@pytest.mark.parametrize(("splits", "field", "code"), SHIFT_ERRORS)
async def test_shift_traffic_refusals_write_nothing(
    db: Backend,
    splits: Callable[[Setup], list[tuple[str, float]]],
    field: list[str],
    code: str,
) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    before = await counts(db)
    payload = await shift(db, deployment, splits(s))
    assert payload["deployment"] is None
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert await counts(db) == before
    async with db.sessions() as session:
        row = (await session.scalars(select(m.Deployment))).one()
        targets = (await session.scalars(select(m.DeploymentTarget))).all()
    assert row.revision == 1
    assert [(t.version_id, t.traffic_percent) for t in targets] == [(s.versions[0].id, 100.0)]


async def test_shift_traffic_reports_every_bad_split_at_once(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    payload = await shift(db, deployment, [(s.v(0), 101), (s.v(1), -1), (s.v(1), 5)])
    assert sorted((e["code"], tuple(e["field"])) for e in payload["userErrors"]) == [
        ("INVALID", ("input", "splits", "0", "percent")),
        ("INVALID", ("input", "splits", "1", "percent")),
        ("INVALID", ("input", "splits", "2", "versionId")),
    ]


async def test_shift_traffic_archived_version_only_at_zero(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    await shift(db, deployment, [(s.v(0), 80), (s.v(1), 20)])
    await set_stage(db, s.versions[1], Stage.ARCHIVED)
    before = await counts(db)
    refused = await shift(db, deployment, [(s.v(0), 70), (s.v(1), 30)])
    assert codes(refused) == ["POLICY_VIOLATION"]
    assert refused["userErrors"][0]["field"] == ["input", "splits", "1", "versionId"]
    assert await counts(db) == before
    drained = await shift(db, deployment, [(s.v(0), 100), (s.v(1), 0)])
    assert drained["userErrors"] == []
    assert traffic(drained["deployment"]) == {s.v(0): 100.0}


async def test_shift_traffic_unknown_deployment_and_stale_revision(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    before = await counts(db)
    unknown = await shift(db, {"id": encode_global_id("Deployment", uuid.uuid4())}, [(s.v(0), 100)])
    assert codes(unknown) == ["NOT_FOUND"]
    assert unknown["userErrors"][0]["field"] == ["input", "deploymentId"]
    wrong_type = await shift(db, {"id": s.model_id}, [(s.v(0), 100)])
    assert codes(wrong_type) == ["NOT_FOUND"]
    stale = await shift(db, deployment, [(s.v(1), 100)], expectedRevision=7)
    assert codes(stale) == ["CONFLICT"]
    assert stale["userErrors"][0]["field"] == ["input", "expectedRevision"]
    assert await counts(db) == before


@pytest.mark.parametrize("strategy", ["ROLLING", "BLUE_GREEN", "CANARY"])
async def test_every_strategy_may_shift_traffic(db: Backend, strategy: str) -> None:
    s = await setup(db)
    deployment = await create(db, s, strategy=strategy)
    payload = await shift(db, deployment, [(s.v(0), 0), (s.v(1), 100)])
    assert payload["userErrors"] == []
    assert traffic(payload["deployment"]) == {s.v(1): 100.0}


async def test_retired_deployment_refuses_traffic_changes(db: Backend) -> None:
    s = await setup(db)
    retired = f.deployment(s.model, status=DeploymentStatus.RETIRED)
    target = m.DeploymentTarget(
        project_id=s.project.id,
        deployment_id=retired.id,
        version_id=s.versions[0].id,
        traffic_percent=100.0,
    )
    await f.save(db.sessions, retired, target)
    gid = {"id": encode_global_id("Deployment", retired.id)}
    shifted = await shift(db, gid, [(s.v(1), 100)])
    promoted = await mutate(
        db,
        "promoteDeployment",
        {"deploymentId": gid["id"], "versionId": s.v(0)},
        "deployment { id }",
    )
    for payload in (shifted, promoted):
        assert codes(payload) == ["INVALID_TRANSITION"]
        assert payload["userErrors"][0]["field"] == ["input", "deploymentId"]
    assert await counts(db) == (0, 0, 0)


# --- promoteDeployment -----------------------------------------------------------------------


async def promote(db: Backend, deployment: dict[str, Any], version: str, **extra: Any) -> Any:
    return await mutate(
        db,
        "promoteDeployment",
        {"deploymentId": deployment["id"], "versionId": version, **extra},
        DEPLOYMENT,
    )


async def test_promote_gives_a_target_all_traffic(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    await shift(db, deployment, [(s.v(0), 60), (s.v(1), 30), (s.v(2), 10)])
    before = await counts(db)
    payload = await promote(db, deployment, s.v(1), expectedRevision=2)
    assert payload["userErrors"] == []
    assert traffic(payload["deployment"]) == {s.v(1): 100.0}
    assert payload["deployment"]["status"] == "ACTIVE"
    assert payload["deployment"]["revision"] == 3
    assert await counts(db) == tuple(n + 1 for n in before)
    event = (await events(db))[-1]
    assert event.kind.value == "PROMOTED"
    assert event.data == {
        "from": {s.v(0): 60.0, s.v(1): 30.0, s.v(2): 10.0},
        "to": {s.v(1): 100.0},
    }
    async with db.sessions() as session:
        actions = (
            await session.scalars(select(m.AuditEntry.action).order_by(m.AuditEntry.seq))
        ).all()
        topics = (await session.scalars(select(m.OutboxEvent.topic))).all()
    assert actions[-1] == "deployment.promote"
    assert set(topics) == {"deployment.updated"}
    # Promoting the sole target again still records a change (and a new revision).
    again = await promote(db, deployment, s.v(1))
    assert again["deployment"]["revision"] == 4


async def test_promote_refusals(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s)
    await shift(db, deployment, [(s.v(0), 90), (s.v(1), 10)])
    before = await counts(db)
    not_target = await promote(db, deployment, s.v(2))
    assert codes(not_target) == ["INVALID"]
    assert not_target["userErrors"][0]["field"] == ["input", "versionId"]
    unknown = await promote(db, deployment, encode_global_id("ModelVersion", uuid.uuid4()))
    assert codes(unknown) == ["NOT_FOUND"]
    assert unknown["userErrors"][0]["field"] == ["input", "versionId"]
    stale = await promote(db, deployment, s.v(1), expectedRevision=1)
    assert codes(stale) == ["CONFLICT"]
    await set_stage(db, s.versions[1], Stage.ARCHIVED)
    archived = await promote(db, deployment, s.v(1))
    assert codes(archived) == ["POLICY_VIOLATION"]
    assert archived["userErrors"][0]["field"] == ["input", "versionId"]
    assert await counts(db) == before


# --- rollbackDeployment ----------------------------------------------------------------------


async def rollback(
    db: Backend, deployment: dict[str, Any], version: str, reason: str = "p99 latency", **kw: Any
) -> dict[str, Any]:
    return await mutate(
        db,
        "rollbackDeployment",
        {"deploymentId": deployment["id"], "toVersionId": version, "reason": reason, **kw},
        DEPLOYMENT,
    )


async def test_rollback_to_an_earlier_version(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s, version=2)
    await shift(db, deployment, [(s.v(2), 80), (s.v(3), 20)])
    before = await counts(db)
    payload = await rollback(db, deployment, s.v(0), reason="error rate up", expectedRevision=2)
    assert payload["userErrors"] == []
    assert traffic(payload["deployment"]) == {s.v(0): 100.0}
    assert payload["deployment"]["status"] == "ROLLED_BACK"
    assert payload["deployment"]["revision"] == 3
    assert await counts(db) == tuple(n + 1 for n in before)
    event = (await events(db))[-1]
    assert (event.kind.value, event.message) == ("ROLLED_BACK", "error rate up")
    assert event.data == {"from": {s.v(2): 80.0, s.v(3): 20.0}, "to": {s.v(0): 100.0}}
    async with db.sessions() as session:
        entry = (
            await session.scalars(select(m.AuditEntry).order_by(m.AuditEntry.seq.desc()))
        ).first()
    assert entry is not None
    assert entry.action == "deployment.rollback"
    assert entry.changes["before"]["status"] == "ACTIVE"
    assert entry.changes["after"]["status"] == "ROLLED_BACK"
    # Promoting afterwards makes it ACTIVE again.
    promoted = await promote(db, deployment, s.v(0))
    assert promoted["deployment"]["status"] == "ACTIVE"


async def test_rollback_measures_against_the_highest_traffic_version(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s, version=1)
    # v1 serves most traffic although the newer v3 is a canary: v2 is not "earlier".
    await shift(db, deployment, [(s.v(1), 90), (s.v(3), 10)])
    before = await counts(db)
    refused = await rollback(db, deployment, s.v(2))
    assert codes(refused) == ["INVALID"]
    assert refused["userErrors"][0]["field"] == ["input", "toVersionId"]
    assert await counts(db) == before
    # On a tie the newest of the tied versions counts as current.
    await shift(db, deployment, [(s.v(1), 50), (s.v(2), 50)])
    ok = await rollback(db, deployment, s.v(1))
    assert ok["userErrors"] == []
    assert traffic(ok["deployment"]) == {s.v(1): 100.0}


ROLLBACK_ERRORS: list[tuple[Callable[[Setup], dict[str, Any]], list[str], str]] = [
    (lambda s: {"reason": "  "}, ["input", "reason"], "INVALID"),
    (lambda s: {"reason": "r" * 2001}, ["input", "reason"], "TOO_LONG"),
    (lambda s: {"toVersionId": s.v(3)}, ["input", "toVersionId"], "INVALID"),
    (lambda s: {"toVersionId": s.v(2)}, ["input", "toVersionId"], "INVALID"),
    (
        lambda s: {"toVersionId": encode_global_id("ModelVersion", s.other_version.id)},
        ["input", "toVersionId"],
        "INVALID",
    ),
    (
        lambda s: {"toVersionId": encode_global_id("ModelVersion", uuid.uuid4())},
        ["input", "toVersionId"],
        "NOT_FOUND",
    ),
    (lambda s: {"toVersionId": "%%%"}, ["input", "toVersionId"], "NOT_FOUND"),
    (lambda s: {"expectedRevision": 5}, ["input", "expectedRevision"], "CONFLICT"),
    (
        lambda s: {"deploymentId": encode_global_id("Deployment", uuid.uuid4())},
        ["input", "deploymentId"],
        "NOT_FOUND",
    ),
]


@pytest.mark.parametrize(("change", "field", "code"), ROLLBACK_ERRORS)
async def test_rollback_refusals_write_nothing(
    db: Backend, change: Callable[[Setup], dict[str, Any]], field: list[str], code: str
) -> None:
    s = await setup(db)
    deployment = await create(db, s, version=2)
    before = await counts(db)
    payload = await mutate(
        db,
        "rollbackDeployment",
        {"deploymentId": deployment["id"], "toVersionId": s.v(0), "reason": "bad", **change(s)},
        "deployment { id }",
    )
    assert payload["deployment"] is None
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert await counts(db) == before
    async with db.sessions() as session:
        row = (await session.scalars(select(m.Deployment))).one()
    assert (row.status, row.revision) == (DeploymentStatus.ACTIVE, 1)


async def test_rollback_to_an_archived_version_is_a_policy_violation(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s, version=2)
    await set_stage(db, s.versions[0], Stage.ARCHIVED)
    before = await counts(db)
    payload = await rollback(db, deployment, s.v(0))
    assert codes(payload) == ["POLICY_VIOLATION"]
    assert payload["userErrors"][0]["field"] == ["input", "toVersionId"]
    assert await counts(db) == before


async def test_revision_increases_on_every_change(db: Backend) -> None:
    s = await setup(db)
    deployment = await create(db, s, version=1)
    revisions = [deployment["revision"]]
    for payload in [
        await shift(db, deployment, [(s.v(1), 50), (s.v(2), 50)]),
        await shift(db, deployment, [(s.v(1), 50), (s.v(2), 50)]),
        await promote(db, deployment, s.v(2)),
        await rollback(db, deployment, s.v(0)),
    ]:
        assert payload["userErrors"] == []
        revisions.append(payload["deployment"]["revision"])
    assert revisions == [1, 2, 3, 4, 5]
    kinds = [e.kind.value for e in await events(db)]
    assert kinds == ["CREATED", "TRAFFIC_SHIFTED", "TRAFFIC_SHIFTED", "PROMOTED", "ROLLED_BACK"]


# --- concurrency -----------------------------------------------------------------------------


async def test_concurrent_shifts_never_exceed_100_percent(db: Backend) -> None:
    s = await setup(db, n=11)
    deployment = await create(db, s)
    first = await shift(db, deployment, [(s.v(0), 70)])
    assert traffic(first["deployment"]) == {s.v(0): 70.0}
    before = await counts(db)
    results = await asyncio.gather(
        *(shift(db, deployment, [(s.v(0), 70), (s.v(i), 30)]) for i in range(1, 11))
    )
    succeeded = [r for r in results if not r["userErrors"]]
    for r in results:
        assert codes(r) in ([], ["LIMIT_EXCEEDED"], ["CONFLICT"])
    # The deployment row lock serializes them: none even needs to report CONFLICT.
    assert len(succeeded) == 10
    async with db.sessions() as session:
        targets = (await session.scalars(select(m.DeploymentTarget))).all()
        row = (await session.scalars(select(m.Deployment))).one()
    assert math.fsum(t.traffic_percent for t in targets) <= 100 + 1e-9
    assert len(targets) == 2
    assert row.revision == 2 + len(succeeded)
    n = len(succeeded)
    assert await counts(db) == (before[0] + n, before[1] + n, before[2] + n)
