"""Alert rules evaluated on each recordDriftMetrics batch: fire after the rule's periods, one
open alert per rule and deployment, resolve on recovery; each an audit entry + outbox event."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from tests.conftest import Backend
from tests.test_mut_monitoring import Setup, metric, setup
from tests.writes import mutate

RULE = "alertRule { id }"


def window(hour: int) -> dict[str, str]:
    return {
        "windowStart": f"2026-02-01T{hour:02d}:00:00Z",
        "windowEnd": f"2026-02-01T{hour + 1:02d}:00:00Z",
    }


async def rule(db: Backend, s: Setup, **kw: Any) -> str:
    payload = await mutate(
        db,
        "createAlertRule",
        {
            "projectId": s.project_id,
            "name": "psi high",
            "metric": "psi",
            "operator": "GT",
            "threshold": 0.2,
            "evaluationPeriods": 2,
            "severity": "CRITICAL",
            **kw,
        },
        RULE,
    )
    assert payload["userErrors"] == []
    rule_id: str = payload["alertRule"]["id"]
    return rule_id


async def batch(db: Backend, deployment_id: str, hour: int, *scores: float, **kw: Any) -> None:
    metrics = [
        metric(feature=f"f{i}", score=score, **window(hour), **kw) for i, score in enumerate(scores)
    ]
    payload = await mutate(
        db, "recordDriftMetrics", {"deploymentId": deployment_id, "metrics": metrics}, "count"
    )
    assert payload["userErrors"] == []


async def alerts(db: Backend) -> list[m.Alert]:
    async with db.sessions() as s:
        return list(await s.scalars(select(m.Alert).order_by(m.Alert.created_at)))


async def topics(db: Backend) -> list[str]:
    async with db.sessions() as s:
        rows = await s.scalars(select(m.OutboxEvent.topic).order_by(m.OutboxEvent.position))
        return [t for t in rows if t.startswith("alert.")]


async def actions(db: Backend) -> list[str]:
    async with db.sessions() as s:
        rows = await s.scalars(select(m.AuditEntry.action).order_by(m.AuditEntry.seq))
        return [a for a in rows if a.startswith("alert.")]


async def test_breach_held_for_the_periods_fires_once_and_recovery_resolves(db: Backend) -> None:
    s = await setup(db)
    rule_id = await rule(db, s)
    # one breaching window is not enough for a 2-period rule
    await batch(db, s.deployment_id, 0, 0.5, 0.1)
    assert await alerts(db) == []
    # the second breaching window fires one alert, with the worst score of the window
    await batch(db, s.deployment_id, 1, 0.3, 0.9, 0.4)
    [alert] = await alerts(db)
    assert (alert.status.value, alert.severity.value, alert.value) == ("FIRING", "CRITICAL", 0.9)
    assert encode_global_id("AlertRule", alert.rule_id) == rule_id
    assert alert.deployment_id == s.deployment.id
    # still breaching: still one open alert
    await batch(db, s.deployment_id, 2, 0.7)
    assert len(await alerts(db)) == 1
    # recovery resolves it
    await batch(db, s.deployment_id, 3, 0.1, 0.05)
    [alert] = await alerts(db)
    assert alert.status.value == "RESOLVED"
    assert alert.resolved_at is not None
    assert await topics(db) == ["alert.fired", "alert.resolved"]
    assert await actions(db) == ["alert.fire", "alert.auto_resolve"]
    # a new breach held again opens a new alert
    await batch(db, s.deployment_id, 4, 0.8)
    await batch(db, s.deployment_id, 5, 0.8)
    assert [a.status.value for a in await alerts(db)] == ["RESOLVED", "FIRING"]


async def test_rules_that_do_not_apply_stay_silent(db: Backend) -> None:
    s = await setup(db)
    other = encode_global_id("Deployment", s.other_deployment.id)
    await rule(db, s, metric="ks", evaluationPeriods=1)  # another metric
    await rule(db, s, driftKind="CONCEPT", evaluationPeriods=1)  # another drift kind
    await rule(db, s, operator="LT", evaluationPeriods=1)  # not breached by high scores
    disabled = await rule(db, s, evaluationPeriods=1)
    await mutate(
        db, "disableAlertRule", {"alertRuleId": disabled, "expectedRevision": 1}, "alertRule { id }"
    )
    await batch(db, s.deployment_id, 0, 0.9)
    await batch(db, other, 0, 0.9)  # other project's deployment: no rule of its own
    assert await alerts(db) == []


async def test_deployment_scoped_rule_and_lt_operator(db: Backend) -> None:
    s = await setup(db)
    await rule(db, s, deploymentId=s.deployment_id, operator="LT", threshold=0.1)
    await batch(db, s.deployment_id, 0, 0.05, 0.5)  # worst for LT is the smallest: 0.05
    await batch(db, s.deployment_id, 1, 0.01)
    [alert] = await alerts(db)
    assert (alert.status.value, alert.value) == ("FIRING", 0.01)


async def test_acknowledged_alert_is_still_open_and_resolves_on_recovery(db: Backend) -> None:
    s = await setup(db)
    await rule(db, s, evaluationPeriods=1)
    await batch(db, s.deployment_id, 0, 0.9)
    [alert] = await alerts(db)
    await mutate(
        db,
        "acknowledgeAlert",
        {"alertId": encode_global_id("Alert", alert.id)},
        "alert { status }",
    )
    await batch(db, s.deployment_id, 1, 0.95)  # acknowledged counts as open: no second alert
    assert len(await alerts(db)) == 1
    await batch(db, s.deployment_id, 2, 0.0)
    [alert] = await alerts(db)
    assert alert.status.value == "RESOLVED"
    assert await topics(db) == ["alert.fired", "alert.updated", "alert.resolved"]


async def test_concurrent_breaching_batches_open_one_alert(db: Backend) -> None:
    s = await setup(db)
    await rule(db, s, evaluationPeriods=1)
    await asyncio.gather(*(batch(db, s.deployment_id, hour, 0.9) for hour in range(8)))
    assert [a.status.value for a in await alerts(db)] == ["FIRING"]
    assert await topics(db) == ["alert.fired"]
