"""Monitoring mutations: drift metrics, alert rules, acknowledging and resolving alerts."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
from sqlalchemy import func, select

from mlgraph.errors import BadUserInput
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.monitoring import _check_metrics
from mlgraph.storage import models as m
from mlgraph.storage.enums import AlertStatus, DriftKind, Operator, Severity
from tests import factories as f
from tests.conftest import Backend
from tests.writes import codes, mutate, written

if TYPE_CHECKING:
    from mlgraph.schema.mutations.monitoring import DriftMetricInput

START = "2026-02-01T00:00:00Z"
END = "2026-02-01T01:00:00Z"
RULE = (
    "alertRule { id name metric driftKind operator threshold evaluationPeriods severity "
    "enabled revision deployment { id } project { id } }"
)
ALERT = "alert { id status acknowledgedAt resolvedAt }"


@dataclass
class Setup:
    project: m.Project
    deployment: m.Deployment
    other_deployment: m.Deployment

    @property
    def project_id(self) -> str:
        return encode_global_id("Project", self.project.id)

    @property
    def deployment_id(self) -> str:
        return encode_global_id("Deployment", self.deployment.id)


async def setup(db: Backend) -> Setup:
    """A project with a deployment, and a deployment in another project."""
    p, elsewhere = f.project(), f.project()
    md, other_md = f.model(p), f.model(elsewhere)
    d, other_d = f.deployment(md), f.deployment(other_md)
    await f.save(db.sessions, p, elsewhere, md, other_md, d, other_d)
    return Setup(p, d, other_d)


def metric(**kw: Any) -> dict[str, Any]:
    return {
        "kind": "DATA",
        "metric": "psi",
        "feature": "amount",
        "score": 0.3,
        "threshold": 0.2,
        "windowStart": START,
        "windowEnd": END,
        **kw,
    }


async def record(db: Backend, deployment_id: str, metrics: list[dict[str, Any]]) -> Any:
    return await mutate(
        db,
        "recordDriftMetrics",
        {"deploymentId": deployment_id, "metrics": metrics},
        "deployment { id driftMetrics(first: 5) { nodes { feature detected } } } count",
    )


async def count(db: Backend, model: type[Any]) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def last_audit(db: Backend) -> m.AuditEntry:
    async with db.sessions() as session:
        entry = (
            await session.scalars(select(m.AuditEntry).order_by(m.AuditEntry.seq.desc()))
        ).first()
    assert entry is not None
    return entry


async def last_outbox(db: Backend) -> m.OutboxEvent:
    async with db.sessions() as session:
        event = (
            await session.scalars(select(m.OutboxEvent).order_by(m.OutboxEvent.position.desc()))
        ).first()
    assert event is not None
    return event


# --- recordDriftMetrics ----------------------------------------------------------------------


async def test_record_drift_metrics_in_one_audited_batch(db: Backend) -> None:
    s = await setup(db)
    payload = await record(
        db,
        s.deployment_id,
        [
            metric(feature="amount", score=0.3, threshold=0.2),
            metric(feature="country", score=0.1, threshold=0.2),
            metric(feature="age", kind="CONCEPT", score=0.1, threshold=0.2, detected=True),
        ],
    )
    assert payload["userErrors"] == []
    assert payload["count"] == 3
    assert payload["deployment"]["id"] == s.deployment_id
    async with db.sessions() as session:
        rows = (await session.scalars(select(m.DriftMetric))).all()
    detected = {r.feature: r.detected for r in rows}
    assert detected == {"amount": True, "country": False, "age": True}
    assert {r.kind for r in rows} == {DriftKind.DATA, DriftKind.CONCEPT}
    assert all(r.project_id == s.project.id for r in rows)
    assert rows[0].window_end - rows[0].window_start == timedelta(hours=1)
    assert await written(db) == (1, 1)
    entry = await last_audit(db)
    assert (entry.action, entry.entity_type) == ("drift.record", "Deployment")
    assert entry.changes == {"before": None, "after": {"count": 3}}
    event = await last_outbox(db)
    assert event.topic == "drift.recorded"
    assert event.payload == {"deploymentId": s.deployment_id, "count": 3, "detected": 2}


async def test_shared_and_varying_values_are_stored_as_sent(db: Backend) -> None:
    """A batch's values travel once when every metric shares them (``bulk`` collapse): each
    row still holds its own, identical rows stay two rows, and -0.0 stays -0.0."""
    s = await setup(db)
    batches = [
        [metric(score=0.0), metric(score=-0.0)],  # equal, of two signs
        [metric(feature="same"), metric(feature="same")],  # identical rows
        [metric(feature="one", score=-0.0)],  # one row: every value shared
        [metric(feature=f"f{i}", score=0.5, kind=("DATA", "CONCEPT")[i % 2]) for i in range(4)],
    ]
    for batch in batches:
        payload = await record(db, s.deployment_id, batch)
        assert payload["userErrors"] == []
        assert payload["count"] == len(batch)
    async with db.sessions() as session:
        rows = (await session.scalars(select(m.DriftMetric))).all()
    signs = sorted((r.feature, math.copysign(1.0, r.score)) for r in rows if r.score == 0.0)
    if db.name == "postgresql":  # SQLite stores -0.0 as 0
        assert signs == [("amount", -1.0), ("amount", 1.0), ("one", -1.0)]
    assert sorted(r.feature for r in rows if r.feature.startswith(("same", "f"))) == [
        "f0", "f1", "f2", "f3", "same", "same",
    ]  # fmt: skip
    kinds = {r.feature: r.kind for r in rows if r.feature.startswith("f")}
    data, concept = DriftKind.DATA, DriftKind.CONCEPT
    assert kinds == {"f0": data, "f1": concept, "f2": data, "f3": concept}
    assert all(r.deployment_id == s.deployment.id and r.threshold == 0.2 for r in rows)
    assert all(r.window_end - r.window_start == timedelta(hours=1) for r in rows)


async def test_a_batch_of_1000_is_accepted_and_1001_refused(db: Backend) -> None:
    s = await setup(db)
    batch = [metric(feature=f"f{i}") for i in range(1000)]
    ok = await record(db, s.deployment_id, batch)
    assert ok["userErrors"] == []
    assert ok["count"] == 1000
    assert await count(db, m.DriftMetric) == 1000
    assert await written(db) == (1, 1)
    over = await record(db, s.deployment_id, [*batch, metric()])
    assert codes(over) == ["LIMIT_EXCEEDED"]
    assert over["userErrors"][0]["field"] == ["input", "metrics"]
    assert over["count"] == 0
    assert await count(db, m.DriftMetric) == 1000
    assert await written(db) == (1, 1)


METRIC_ERRORS: list[tuple[list[dict[str, Any]], list[str], str]] = [
    ([], ["input", "metrics"], "INVALID"),
    ([metric(metric="m" * 65)], ["input", "metrics", "0", "metric"], "TOO_LONG"),
    ([metric(metric=" ")], ["input", "metrics", "0", "metric"], "INVALID"),
    ([metric(), metric(feature="x" * 201)], ["input", "metrics", "1", "feature"], "TOO_LONG"),
    ([metric(windowEnd=START)], ["input", "metrics", "0", "windowEnd"], "INVALID"),
    (
        [metric(windowStart=END, windowEnd=START)],
        ["input", "metrics", "0", "windowEnd"],
        "INVALID",
    ),
]


@pytest.mark.parametrize(("metrics", "field", "code"), METRIC_ERRORS)
async def test_record_refusals_write_nothing(
    db: Backend, metrics: list[dict[str, Any]], field: list[str], code: str
) -> None:
    s = await setup(db)
    payload = await record(db, s.deployment_id, metrics)
    assert payload["deployment"] is None
    assert payload["count"] == 0
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert await written(db) == (0, 0)
    assert await count(db, m.DriftMetric) == 0


async def test_record_unknown_deployment(db: Backend) -> None:
    await setup(db)
    for bad in ("nope", encode_global_id("Deployment", uuid.uuid4())):
        payload = await record(db, bad, [metric()])
        assert codes(payload) == ["NOT_FOUND"]
        assert payload["userErrors"][0]["field"] == ["input", "deploymentId"]
    assert await written(db) == (0, 0)
    assert await count(db, m.DriftMetric) == 0


async def test_infinite_score_literal_reaches_the_check_and_is_refused(db: Backend) -> None:
    """A Float literal like 1e400 parses to inf (variables refuse it before resolvers run)."""
    s = await setup(db)

    def item(feature: str, score: str, threshold: str) -> str:
        return (
            f'{{kind: DATA, metric: "psi", feature: "{feature}", score: {score}, '
            f'threshold: {threshold}, windowStart: "{START}", windowEnd: "{END}"}}'
        )

    query = (
        f'mutation {{ recordDriftMetrics(input: {{deploymentId: "{s.deployment_id}", '
        f"metrics: [{item('a', '0.1', '0.2')}, {item('b', '1e400', '-1e400')}]}}) "
        "{ count userErrors { field code } } }"
    )
    refused = await db.gql(query)
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["errors"][0]["extensions"]["field"] == "input.metrics.1.score"
    assert await written(db) == (0, 0)
    # As a JSON variable the same number is refused by the Float scalar itself.
    variables = json.dumps({"input": {"deploymentId": s.deployment_id, "metrics": [metric()]}})
    mutation = (
        "mutation($input: RecordDriftMetricsInput!) { recordDriftMetrics(input: $input) { count } }"
    )
    raw = json.dumps({"query": mutation, "variables": "VARIABLES"}).replace(
        '"VARIABLES"', variables.replace('"score": 0.3', '"score": 1e400')
    )
    assert "1e400" in raw
    assert db.client is not None
    response = await db.client.post(
        "/graphql", content=raw, headers={"content-type": "application/json"}
    )
    body = response.json()
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await written(db) == (0, 0)
    assert await count(db, m.DriftMetric) == 0


@pytest.mark.parametrize(
    ("field", "value"), [("score", float("nan")), ("threshold", float("inf")), ("score", -1e999)]
)
def test_non_finite_numbers_are_bad_user_input(field: str, value: float) -> None:
    item = SimpleNamespace(
        metric="psi",
        feature="a",
        score=0.1,
        threshold=0.2,
        window_start=f.tick(1),
        window_end=f.tick(2),
        report_name=None,
    )
    setattr(item, field, value)
    with pytest.raises(BadUserInput) as refused:
        _check_metrics([cast("DriftMetricInput", item)])  # a stand-in with the input's fields
    assert (refused.value.code, refused.value.field) == (
        "BAD_USER_INPUT",
        f"input.metrics.0.{field}",
    )


# --- alert rules -----------------------------------------------------------------------------


async def create_rule(db: Backend, s: Setup, **extra: Any) -> dict[str, Any]:
    payload = await mutate(
        db,
        "createAlertRule",
        {
            "projectId": s.project_id,
            "name": "PSI high",
            "metric": "psi",
            "operator": "GT",
            "threshold": 0.25,
            "severity": "WARNING",
            **extra,
        },
        RULE,
    )
    assert payload["userErrors"] == []
    rule: dict[str, Any] = payload["alertRule"]
    return rule


async def test_create_alert_rule(db: Backend) -> None:
    s = await setup(db)
    rule = await create_rule(db, s)
    assert rule["evaluationPeriods"] == 1
    assert rule["enabled"] is True
    assert rule["driftKind"] is None
    assert rule["deployment"] is None
    assert rule["project"] == {"id": s.project_id}
    assert rule["revision"] == 1
    assert await written(db) == (1, 1)
    entry = await last_audit(db)
    assert (entry.action, entry.entity_type) == ("alert_rule.create", "AlertRule")
    assert entry.changes["after"]["operator"] == "GT"
    assert (await last_outbox(db)).topic == "alert_rule.created"
    scoped = await create_rule(
        db, s, deploymentId=s.deployment_id, driftKind="PREDICTION", evaluationPeriods=100
    )
    assert scoped["deployment"] == {"id": s.deployment_id}
    assert scoped["driftKind"] == "PREDICTION"
    assert scoped["evaluationPeriods"] == 100


RULE_ERRORS: list[tuple[Callable[[Setup], dict[str, Any]], list[str], str]] = [
    (lambda s: {"name": ""}, ["input", "name"], "INVALID"),
    (lambda s: {"metric": "m" * 65}, ["input", "metric"], "TOO_LONG"),
    (lambda s: {"evaluationPeriods": 0}, ["input", "evaluationPeriods"], "INVALID"),
    (lambda s: {"evaluationPeriods": 101}, ["input", "evaluationPeriods"], "INVALID"),
    (lambda s: {"projectId": "bad"}, ["input", "projectId"], "NOT_FOUND"),
    (lambda s: {"projectId": s.deployment_id}, ["input", "projectId"], "NOT_FOUND"),
    (
        lambda s: {"deploymentId": encode_global_id("Deployment", uuid.uuid4())},
        ["input", "deploymentId"],
        "NOT_FOUND",
    ),
    (
        lambda s: {"deploymentId": encode_global_id("Deployment", s.other_deployment.id)},
        ["input", "deploymentId"],
        "INVALID",
    ),
]


@pytest.mark.parametrize(("change", "field", "code"), RULE_ERRORS)
async def test_create_alert_rule_refusals_write_nothing(
    db: Backend, change: Callable[[Setup], dict[str, Any]], field: list[str], code: str
) -> None:
    s = await setup(db)
    payload = await mutate(
        db,
        "createAlertRule",
        {
            "projectId": s.project_id,
            "name": "r",
            "metric": "psi",
            "operator": "GTE",
            "threshold": 1.0,
            "severity": "INFO",
            **change(s),
        },
        "alertRule { id }",
    )
    assert payload["alertRule"] is None
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert await written(db) == (0, 0)
    assert await count(db, m.AlertRule) == 0


async def test_create_alert_rule_idempotency_key(db: Backend) -> None:
    s = await setup(db)
    first = await create_rule(db, s, idempotencyKey="rule-1")
    again = await create_rule(db, s, idempotencyKey="rule-1")
    assert again["id"] == first["id"]
    assert await written(db) == (1, 1)
    assert await count(db, m.AlertRule) == 1


async def test_update_alert_rule(db: Backend) -> None:
    s = await setup(db)
    rule = await create_rule(db, s)
    payload = await mutate(
        db,
        "updateAlertRule",
        {
            "alertRuleId": rule["id"],
            "expectedRevision": 1,
            "name": "PSI very high",
            "threshold": 0.5,
            "operator": "GTE",
            "evaluationPeriods": 3,
            "severity": "CRITICAL",
        },
        RULE,
    )
    assert payload["userErrors"] == []
    updated = payload["alertRule"]
    assert (updated["name"], updated["threshold"], updated["operator"]) == (
        "PSI very high",
        0.5,
        "GTE",
    )
    assert (updated["evaluationPeriods"], updated["severity"]) == (3, "CRITICAL")
    assert updated["metric"] == "psi"
    assert updated["revision"] == 2
    assert await written(db) == (2, 2)
    entry = await last_audit(db)
    assert entry.action == "alert_rule.update"
    assert entry.changes["before"]["threshold"] == 0.25
    assert entry.changes["after"]["threshold"] == 0.5
    assert (await last_outbox(db)).topic == "alert_rule.updated"
    partial = await mutate(
        db, "updateAlertRule", {"alertRuleId": rule["id"], "threshold": 0.6}, RULE
    )
    assert partial["alertRule"]["name"] == "PSI very high"
    assert partial["alertRule"]["threshold"] == 0.6


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"expectedRevision": 9}, ["input", "expectedRevision"], "CONFLICT"),
        ({"evaluationPeriods": 0}, ["input", "evaluationPeriods"], "INVALID"),
        ({"name": " "}, ["input", "name"], "INVALID"),
        ({"alertRuleId": "bad"}, ["input", "alertRuleId"], "NOT_FOUND"),
        (
            {"alertRuleId": encode_global_id("AlertRule", uuid.uuid4())},
            ["input", "alertRuleId"],
            "NOT_FOUND",
        ),
    ],
)
async def test_update_alert_rule_refusals_write_nothing(
    db: Backend, change: dict[str, Any], field: list[str], code: str
) -> None:
    s = await setup(db)
    rule = await create_rule(db, s)
    before = await written(db)
    payload = await mutate(
        db,
        "updateAlertRule",
        {"alertRuleId": rule["id"], "threshold": 9.0, **change},
        "alertRule { id }",
    )
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert await written(db) == before
    async with db.sessions() as session:
        row = (await session.scalars(select(m.AlertRule))).one()
    assert (row.threshold, row.revision) == (0.25, 1)


async def test_disable_and_enable_alert_rule(db: Backend) -> None:
    s = await setup(db)
    rule = await create_rule(db, s)
    sel = "alertRule { enabled revision }"
    enable_twice = await mutate(db, "enableAlertRule", {"alertRuleId": rule["id"]}, sel)
    assert codes(enable_twice) == ["INVALID_TRANSITION"]
    assert enable_twice["userErrors"][0]["field"] == ["input", "alertRuleId"]
    assert await written(db) == (1, 1)
    disabled = await mutate(db, "disableAlertRule", {"alertRuleId": rule["id"]}, sel)
    assert disabled == {"alertRule": {"enabled": False, "revision": 2}, "userErrors": []}
    assert (await last_audit(db)).action == "alert_rule.disable"
    assert (await last_outbox(db)).topic == "alert_rule.disabled"
    again = await mutate(db, "disableAlertRule", {"alertRuleId": rule["id"]}, sel)
    assert codes(again) == ["INVALID_TRANSITION"]
    assert await written(db) == (2, 2)
    stale = await mutate(
        db, "enableAlertRule", {"alertRuleId": rule["id"], "expectedRevision": 1}, sel
    )
    assert codes(stale) == ["CONFLICT"]
    enabled = await mutate(db, "enableAlertRule", {"alertRuleId": rule["id"]}, sel)
    assert enabled == {"alertRule": {"enabled": True, "revision": 3}, "userErrors": []}
    assert (await last_audit(db)).action == "alert_rule.enable"
    assert (await last_outbox(db)).topic == "alert_rule.enabled"
    assert await written(db) == (3, 3)
    unknown = await mutate(db, "disableAlertRule", {"alertRuleId": s.deployment_id}, sel)
    assert codes(unknown) == ["NOT_FOUND"]


# --- alerts ----------------------------------------------------------------------------------


async def insert_alert(db: Backend, s: Setup, status: AlertStatus = AlertStatus.FIRING) -> str:
    """Alerts fire from rule evaluation (a later change): insert one directly."""
    rule = m.AlertRule(
        project_id=s.project.id,
        deployment_id=s.deployment.id,
        name="r",
        metric="psi",
        operator=Operator.GT,
        threshold=0.2,
        severity=Severity.CRITICAL,
    )
    await f.save(db.sessions, rule)
    alert = m.Alert(
        project_id=s.project.id,
        rule_id=rule.id,
        deployment_id=s.deployment.id,
        severity=Severity.CRITICAL,
        status=status,
        message="psi 0.4 > 0.2",
        value=0.4,
        fired_at=f.tick(),
    )
    await f.save(db.sessions, alert)
    return encode_global_id("Alert", alert.id)


async def test_acknowledge_then_resolve(db: Backend) -> None:
    s = await setup(db)
    alert_id = await insert_alert(db, s)
    acked = await mutate(
        db, "acknowledgeAlert", {"alertId": alert_id, "comment": "looking into it"}, ALERT
    )
    assert acked["userErrors"] == []
    assert acked["alert"]["status"] == "ACKNOWLEDGED"
    assert acked["alert"]["acknowledgedAt"] is not None
    assert acked["alert"]["resolvedAt"] is None
    assert await written(db) == (1, 1)
    entry = await last_audit(db)
    assert (entry.action, entry.entity_type) == ("alert.acknowledge", "Alert")
    assert entry.changes["before"]["status"] == "FIRING"
    assert entry.changes["after"]["status"] == "ACKNOWLEDGED"
    assert entry.changes["after"]["comment"] == "looking into it"
    event = await last_outbox(db)
    assert event.topic == "alert.updated"
    assert event.payload == {
        "alertId": alert_id,
        "status": "ACKNOWLEDGED",
        "comment": "looking into it",
    }
    again = await mutate(db, "acknowledgeAlert", {"alertId": alert_id}, ALERT)
    assert codes(again) == ["INVALID_TRANSITION"]
    assert again["userErrors"][0]["field"] == ["input", "alertId"]
    assert await written(db) == (1, 1)
    resolved = await mutate(db, "resolveAlert", {"alertId": alert_id}, ALERT)
    assert resolved["userErrors"] == []
    assert resolved["alert"]["status"] == "RESOLVED"
    assert resolved["alert"]["resolvedAt"] is not None
    assert resolved["alert"]["acknowledgedAt"] == acked["alert"]["acknowledgedAt"]
    assert (await last_audit(db)).action == "alert.resolve"
    assert (await last_outbox(db)).topic == "alert.updated"
    assert await written(db) == (2, 2)
    for name in ("acknowledgeAlert", "resolveAlert"):
        refused = await mutate(db, name, {"alertId": alert_id}, ALERT)
        assert codes(refused) == ["INVALID_TRANSITION"]
    assert await written(db) == (2, 2)


async def test_resolve_straight_from_firing(db: Backend) -> None:
    s = await setup(db)
    alert_id = await insert_alert(db, s)
    resolved = await mutate(db, "resolveAlert", {"alertId": alert_id}, ALERT)
    assert resolved["alert"]["status"] == "RESOLVED"
    assert resolved["alert"]["acknowledgedAt"] is None
    assert await written(db) == (1, 1)


async def test_alert_refusals(db: Backend) -> None:
    s = await setup(db)
    alert_id = await insert_alert(db, s)
    too_long = await mutate(
        db, "acknowledgeAlert", {"alertId": alert_id, "comment": "c" * 10_001}, ALERT
    )
    assert codes(too_long) == ["TOO_LONG"]
    assert too_long["userErrors"][0]["field"] == ["input", "comment"]
    for bad in ("bad", encode_global_id("Alert", uuid.uuid4()), s.deployment_id):
        for name in ("acknowledgeAlert", "resolveAlert"):
            payload = await mutate(db, name, {"alertId": bad}, ALERT)
            assert codes(payload) == ["NOT_FOUND"]
            assert payload["userErrors"][0]["field"] == ["input", "alertId"]
    assert await written(db) == (0, 0)
    async with db.sessions() as session:
        row = (await session.scalars(select(m.Alert))).one()
    assert row.status == AlertStatus.FIRING


async def test_a_batch_costs_the_same_statements_whatever_its_size(db: Backend) -> None:
    s = await setup(db)
    for name in ("psi", "ks", "chi2"):
        await create_rule(db, s, metric=name, evaluationPeriods=2)

    async def statements(n: int) -> list[str]:
        metrics = [
            metric(
                metric=("psi", "ks", "chi2")[i % 3],
                feature=f"f{i}",
                score=0.1,  # below the rules: nothing fires, so only the batch differs
                windowStart=f"2026-02-0{1 + i % 5}T00:00:00Z",
                windowEnd=f"2026-02-0{1 + i % 5}T01:00:00Z",
            )
            for i in range(n)
        ]
        db.sql.start()
        payload = await mutate(
            db, "recordDriftMetrics", {"deploymentId": s.deployment_id, "metrics": metrics}, "count"
        )
        db.sql.stop()
        assert payload["count"] == n
        return list(db.sql.statements)

    one, many = await statements(1), await statements(600)
    assert len(one) == len(many)
    # the deployment with its project's archive mark, the INSERT with the rules' lock in one
    # statement (SQLite: two), their windows with the open alerts, the audit head, then the
    # audit entry, the outbox event and the head's move in one statement (SQLite: the next
    # seq, the entry, the outbox event, the head); the payload's deployment is not selected,
    # so it is not read
    assert len(one) == (5 if db.name == "postgresql" else 9)
    inserts = [x for x in many if "INSERT INTO drift_metric" in x]
    assert len(inserts) == 1
    assert await count(db, m.DriftMetric) == 601


async def test_the_payload_reads_the_entity_only_when_it_is_selected(db: Backend) -> None:
    s = await setup(db)
    window = iter(range(1, 10))

    async def statements(selection: str) -> tuple[int, dict[str, Any]]:
        n = next(window)
        item = metric(windowStart=f"2026-03-0{n}T00:00:00Z", windowEnd=f"2026-03-0{n}T01:00:00Z")
        db.sql.start()
        payload = await mutate(
            db,
            "recordDriftMetrics",
            {"deploymentId": s.deployment_id, "metrics": [item]},
            selection,
        )
        db.sql.stop()
        assert payload["userErrors"] == []
        return len(db.sql.statements), payload

    await statements("count")  # the project's audit chain starts
    bare, _ = await statements("count")
    shown, payload = await statements("count deployment { id name }")
    assert shown == bare + 1
    assert payload["deployment"] == {"id": s.deployment_id, "name": s.deployment.name}
    # through an inline fragment and a named one, too
    inline, payload = await statements(
        "count ... on RecordDriftMetricsPayload { deployment { id } }"
    )
    assert inline == shown
    assert payload["deployment"] == {"id": s.deployment_id}
    assert db.client is not None
    query = (
        "mutation($input: RecordDriftMetricsInput!) { recordDriftMetrics(input: $input) "
        "{ ...Shown userErrors { code } } } "
        "fragment Shown on RecordDriftMetricsPayload { count deployment { name } }"
    )
    item = metric(windowStart="2026-03-09T00:00:00Z", windowEnd="2026-03-09T01:00:00Z")
    variables = {"input": {"deploymentId": s.deployment_id, "metrics": [item]}}
    body = (await db.client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert body["data"]["recordDriftMetrics"]["deployment"] == {"name": s.deployment.name}
