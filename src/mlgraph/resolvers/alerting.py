"""Alert evaluation, run inside the unit of work of each ``recordDriftMetrics`` batch.

For every enabled rule of the project that applies to the deployment (its own, or the
project-wide ones) and whose metric (and drift kind, if set) the batch measured:

* a *period* is one measurement window (``windowEnd``) of the deployment; its value for the
  rule is the worst matching score in it (the largest for GT/GTE, the smallest for LT/LTE);
* the rule *breaches* when each of its last ``evaluationPeriods`` periods breaches;
* breach and no open (FIRING or ACKNOWLEDGED) alert for this rule and deployment: fire one;
* the latest period does not breach and an alert is open: resolve it.

Firing and resolving each write an audit entry and an outbox event (``alert.fired``,
``alert.resolved``) in the batch's transaction. Rules are locked (``FOR UPDATE``) while they
are evaluated, so concurrent batches cannot both open an alert for the same rule and deployment.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import func, or_, select

from mlgraph.ids import encode_global_id
from mlgraph.storage.enums import AlertStatus, Operator
from mlgraph.storage.models import Alert, AlertRule, Deployment, DriftMetric
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import UnitOfWork, snapshot

_COMPARE: dict[Operator, Callable[[float, float], bool]] = {
    Operator.GT: operator.gt,
    Operator.GTE: operator.ge,
    Operator.LT: operator.lt,
    Operator.LTE: operator.le,
}
_OPEN = (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)


async def evaluate_alert_rules(
    tx: UnitOfWork, deployment: Deployment, batch: Sequence[DriftMetric]
) -> None:
    s = tx.session
    measured = {(m.metric, m.kind) for m in batch}
    rules = (
        await s.scalars(
            select(AlertRule)
            .where(
                AlertRule.project_id == deployment.project_id,
                AlertRule.enabled.is_(True),
                or_(AlertRule.deployment_id.is_(None), AlertRule.deployment_id == deployment.id),
            )
            .order_by(AlertRule.id)
            .with_for_update()
        )
    ).all()
    for rule in rules:
        if any(m == rule.metric and rule.drift_kind in (None, k) for m, k in measured):
            await _evaluate(tx, rule, deployment)


async def _periods(tx: UnitOfWork, rule: AlertRule, deployment_id: uuid.UUID) -> list[float]:
    """The rule's value in each of the deployment's latest ``evaluation_periods`` windows."""
    worst = func.max if rule.operator in (Operator.GT, Operator.GTE) else func.min
    stmt = (
        select(worst(DriftMetric.score))
        .where(DriftMetric.deployment_id == deployment_id, DriftMetric.metric == rule.metric)
        .group_by(DriftMetric.window_end)
        .order_by(DriftMetric.window_end.desc())
        .limit(rule.evaluation_periods)
    )
    if rule.drift_kind is not None:
        stmt = stmt.where(DriftMetric.kind == rule.drift_kind)
    return [float(v) for v in (await tx.session.scalars(stmt)).all()]


async def _evaluate(tx: UnitOfWork, rule: AlertRule, deployment: Deployment) -> None:
    values = await _periods(tx, rule, deployment.id)
    compare = _COMPARE[rule.operator]
    breached = [compare(v, rule.threshold) for v in values]
    open_alert = await tx.session.scalar(
        select(Alert)
        .where(
            Alert.rule_id == rule.id,
            Alert.deployment_id == deployment.id,
            Alert.status.in_(_OPEN),
        )
        .limit(1)
    )
    if open_alert is None and len(values) >= rule.evaluation_periods and all(breached):
        _fire(tx, rule, deployment, values[0])
    elif open_alert is not None and values and not breached[0]:
        _resolve(tx, open_alert, values[0])


def _event(alert: Alert, rule: AlertRule) -> dict[str, object]:
    return {
        "alertId": encode_global_id("Alert", alert.id),
        "alertRuleId": encode_global_id("AlertRule", rule.id),
        "deploymentId": encode_global_id("Deployment", alert.deployment_id),
        "status": alert.status.value,
        "severity": alert.severity.value,
        "value": alert.value,
    }


def _fire(tx: UnitOfWork, rule: AlertRule, deployment: Deployment, value: float) -> None:
    now = utcnow()
    alert = Alert(
        id=uuid.uuid4(),
        project_id=deployment.project_id,
        rule_id=rule.id,
        deployment_id=deployment.id,
        severity=rule.severity,
        status=AlertStatus.FIRING,
        message=(
            f"{rule.name}: {rule.metric} {rule.operator.value} {rule.threshold} "
            f"for {rule.evaluation_periods} period(s) on {deployment.name} (now {value:g})"
        ),
        value=value,
        fired_at=now,
        created_at=now,
        updated_at=now,
    )
    tx.session.add(alert)
    tx.record(
        alert,
        "alert.fire",
        "alert.fired",
        before=None,
        payload=_event(alert, rule),
    )


def _resolve(tx: UnitOfWork, alert: Alert, value: float) -> None:
    before = snapshot(alert)
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = utcnow()
    payload = {
        "alertId": encode_global_id("Alert", alert.id),
        "status": alert.status.value,
        "value": value,
    }
    tx.record(
        alert,
        "alert.auto_resolve",
        "alert.resolved",
        before=before,
        payload=payload,
    )
