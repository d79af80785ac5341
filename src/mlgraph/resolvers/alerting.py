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

import functools
import operator
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, or_, select, union_all

from mlgraph.ids import encode_global_id
from mlgraph.storage.enums import AlertStatus, DriftKind, Operator
from mlgraph.storage.models import Alert, AlertRule, Deployment, DriftMetric
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import UnitOfWork, snapshot

COMPARE: dict[Operator, Callable[[float, float], bool]] = {
    Operator.GT: operator.gt,
    Operator.GTE: operator.ge,
    Operator.LT: operator.lt,
    Operator.LTE: operator.le,
}
_OPEN = (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)


async def evaluate_alert_rules(
    tx: UnitOfWork, deployment: Deployment, measured: set[tuple[str, DriftKind]]
) -> None:
    """Three statements whatever the batch holds: the rules (locked), the latest windows they
    need, the open alerts. The open alerts are read after the lock, in a statement of their
    own: one read in the locking statement (a join) would come from its snapshot, taken before
    it waited, and miss the alert the batch it waited for has just opened."""
    s = tx.session
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
    rules = [
        r for r in rules if any(m == r.metric and r.drift_kind in (None, k) for m, k in measured)
    ]
    if not rules:
        return
    windows = await _windows(tx, deployment.id, rules)
    open_alerts = {
        a.rule_id: a
        for a in await s.scalars(
            select(Alert).where(
                Alert.rule_id.in_([r.id for r in rules]),
                Alert.deployment_id == deployment.id,
                Alert.status.in_(_OPEN),
            )
        )
    }
    for rule in rules:
        _evaluate(tx, rule, deployment, _periods(rule, windows), open_alerts.get(rule.id))


#: (metric, kind) -> [(window_end, largest score, smallest score)], newest first
_Windows = dict[tuple[str, DriftKind], list[tuple[datetime, float, float]]]


async def _windows(
    tx: UnitOfWork, deployment_id: uuid.UUID, rules: Sequence[AlertRule]
) -> _Windows:
    """For each (metric, kind) the rules read, its latest windows (as many as the longest rule
    needs) with their largest and smallest score: one query for all rules, each part an index
    range (``ix_drift_metric_deployment_id_metric_kind_window_end``) however long the history."""
    pairs = sorted(
        {(r.metric, k) for r in rules for k in ((r.drift_kind,) if r.drift_kind else DriftKind)}
    )
    params: dict[str, object] = {"deployment": deployment_id}
    params["depth"] = max(r.evaluation_periods for r in rules)
    for n, (metric, kind) in enumerate(pairs):
        params[f"metric_{n}"], params[f"kind_{n}"] = metric, kind
    out: _Windows = {}
    for metric, kind, end, high, low in await tx.session.execute(_latest(len(pairs)), params):
        out.setdefault((metric, kind), []).append((end, float(high), float(low)))
    return out


@functools.cache
def _latest(parts: int) -> Select[Any]:
    """The windows statement for ``parts`` (metric, kind) pairs (built once per count)."""
    subqueries = [
        select(
            DriftMetric.metric,
            DriftMetric.kind,
            DriftMetric.window_end,
            func.max(DriftMetric.score).label("high"),
            func.min(DriftMetric.score).label("low"),
        )
        .where(
            DriftMetric.deployment_id == bindparam("deployment"),
            DriftMetric.metric == bindparam(f"metric_{n}"),
            DriftMetric.kind == bindparam(f"kind_{n}", type_=DriftMetric.kind.type),
        )
        .group_by(DriftMetric.metric, DriftMetric.kind, DriftMetric.window_end)
        .order_by(DriftMetric.window_end.desc())
        .limit(bindparam("depth", type_=Integer))
        .subquery()
        for n in range(parts)
    ]
    latest = union_all(*(select(*part.c) for part in subqueries)).subquery()
    return select(*latest.c).order_by(latest.c.window_end.desc())


def _periods(rule: AlertRule, windows: _Windows) -> list[float]:
    """The rule's value in each of the deployment's latest ``evaluation_periods`` windows
    (a window holding several kinds counts once for a rule without a kind). Each kind's
    latest windows include every window among the latest of all kinds, so these suffice."""
    high = rule.operator in (Operator.GT, Operator.GTE)
    merged: dict[datetime, float] = {}
    for (metric, kind), rows in windows.items():
        if metric != rule.metric or rule.drift_kind not in (None, kind):
            continue
        for end, top, bottom in rows:
            value = top if high else bottom
            seen = merged.get(end)
            merged[end] = value if seen is None else (max if high else min)(seen, value)
    latest = sorted(merged, reverse=True)[: rule.evaluation_periods]
    return [merged[end] for end in latest]


def _evaluate(
    tx: UnitOfWork,
    rule: AlertRule,
    deployment: Deployment,
    values: list[float],
    open_alert: Alert | None,
) -> None:
    compare = COMPARE[rule.operator]
    breached = [compare(v, rule.threshold) for v in values]
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
