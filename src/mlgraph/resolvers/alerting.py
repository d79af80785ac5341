"""Alert evaluation, run inside the unit of work of each ``recordDriftMetrics`` batch.

For every enabled rule of the project that applies to the deployment (its own, or the
project-wide ones) and whose metric (and drift kind, if set) the batch measured:

* a *period* is one measurement window (``windowEnd``) of the deployment; its value for the
  rule is the worst matching score in it (the largest for GT/GTE, the smallest for LT/LTE);
* the rule *breaches* when each of its last ``evaluationPeriods`` periods breaches;
* breach and no open (PENDING, FIRING or ACKNOWLEDGED) alert for this rule and deployment:
  fire one; with a ``for_seconds`` the alert is PENDING first (``active_since`` = the end of the
  latest window), and fires once a later batch still breaches with its latest window ending
  ``for_seconds`` or more after ``active_since`` (Prometheus ``for``, on the windows' time);
* the latest window ends inside a scheduled ``Downtime`` of the rule or deployment (or the
  whole project): nothing fires (a breach may still become PENDING, and fires after the
  downtime if it holds);
* the latest period does not breach and an alert is open: resolve it (a PENDING one quietly:
  it never fired).

Firing and resolving each write an audit entry and an outbox event (``alert.fired``,
``alert.resolved``) in the batch's transaction; PENDING and its clearing only an audit entry.
Rules are locked (``FOR UPDATE``) while they are evaluated, so concurrent batches cannot both
open an alert for the same rule and deployment.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Integer, Select, and_, bindparam, func, or_, select, union_all

from mlgraph.ids import encode_global_id
from mlgraph.storage.audit import Rider
from mlgraph.storage.enums import AlertStatus, DriftKind, Operator
from mlgraph.storage.models import Alert, AlertRule, Deployment, Downtime, DriftMetric
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import UnitOfWork, snapshot

COMPARE: dict[Operator, Callable[[float, float], bool]] = {
    Operator.GT: operator.gt,
    Operator.GTE: operator.ge,
    Operator.LT: operator.lt,
    Operator.LTE: operator.le,
}
_OPEN = (AlertStatus.PENDING, AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)


async def evaluate_alert_rules(
    tx: UnitOfWork,
    deployment: Deployment,
    measured: set[tuple[str, DriftKind]],
    *,
    rider: Rider | None = None,
) -> None:
    """Two statements whatever the batch holds: the rules (locked), then the latest windows
    they need with the open alerts; a third (the downtimes) only when an alert is about to
    fire. Windows and alerts are read after the lock, in a statement of their own: a read in
    the locking statement (a join) would come from its snapshot, taken before it waited, and
    miss the metrics and the alert of the batch it waited for.

    ``rider``, the batch's INSERT, runs in the rules' statement on PostgreSQL (a CTE: it runs
    once, whatever the rules; the windows, read after it, include its rows), else before it."""
    s = tx.session
    scope: dict[str, Any] = {"project": deployment.project_id, "deployment": deployment.id}
    rules_stmt: Select[Any] = _RULES
    if rider is not None and s.get_bind().dialect.name == "postgresql":
        rules_stmt, scope = _rules_after(rider[0]), {**scope, **rider[1]}
    elif rider is not None:
        await s.execute(*rider)
    rules = (await s.scalars(rules_stmt, scope)).all()
    rules = [
        r for r in rules if any(m == r.metric and r.drift_kind in (None, k) for m, k in measured)
    ]
    if not rules:
        return
    windows, open_alerts = await _windows_and_alerts(tx, deployment.id, rules)
    downtimes: list[Downtime] | None = None

    async def silenced(rule: AlertRule, end: datetime) -> bool:
        """Whether a downtime covers ``end`` for the rule (read once, when first needed)."""
        nonlocal downtimes
        if downtimes is None:
            downtimes = await _downtimes(tx, deployment, windows)
        return any(
            d.rule_id in (None, rule.id) and d.starts_at <= end < d.ends_at for d in downtimes
        )

    for rule in rules:
        periods = _periods(rule, windows)
        await _evaluate(tx, rule, deployment, periods, open_alerts.get(rule.id), silenced)


#: The enabled rules of ``:project`` that apply to ``:deployment``, locked in id order. The
#: statements are built once: building one (and its cache key) cost more than running it.
_RULES = (
    select(AlertRule)
    .where(
        AlertRule.project_id == bindparam("project"),
        AlertRule.enabled.is_(True),
        or_(AlertRule.deployment_id.is_(None), AlertRule.deployment_id == bindparam("deployment")),
    )
    .order_by(AlertRule.id)
    .with_for_update()
)


@functools.cache
def _rules_after(insert: Insert) -> Select[Any]:
    """``_RULES`` with ``insert`` as a CTE (built once per INSERT shape)."""
    return _RULES.add_cte(insert.cte("batch"))


#: The open alerts of ``:rules`` on ``:deployment``.
_OPEN_ALERT = and_(
    Alert.rule_id.in_(bindparam("rules", expanding=True)),
    Alert.deployment_id == bindparam("deployment"),
    Alert.status.in_(_OPEN),
)


async def _downtimes(tx: UnitOfWork, deployment: Deployment, windows: _Windows) -> list[Downtime]:
    """The downtimes of the project (all of it, or this deployment) around the latest windows."""
    ends = [rows[0][0] for rows in windows.values() if rows]
    if not ends:
        return []
    stmt = select(Downtime).where(
        Downtime.project_id == deployment.project_id,
        or_(Downtime.deployment_id.is_(None), Downtime.deployment_id == deployment.id),
        Downtime.starts_at <= max(ends),
        Downtime.ends_at > min(ends),
    )
    return list((await tx.session.scalars(stmt)).all())


#: (metric, kind) -> [(window_end, largest score, smallest score)], newest first
_Windows = dict[tuple[str, DriftKind], list[tuple[datetime, float, float]]]


async def _windows_and_alerts(
    tx: UnitOfWork, deployment_id: uuid.UUID, rules: Sequence[AlertRule]
) -> tuple[_Windows, dict[uuid.UUID, Alert]]:
    """For each (metric, kind) the rules read, its latest windows (as many as the longest rule
    needs) with their largest and smallest score, and the rules' open alerts by rule: one
    query for all rules, each part an index range
    (``ix_drift_metric_deployment_id_metric_kind_window_end``) however long the history.
    Each window row carries each open alert (an outer join: windows × alerts, a few dozen
    rows at most). The batch just recorded a window of every rule's series, so a rule's
    alert always comes with one."""
    pairs = sorted(
        {(r.metric, k) for r in rules for k in ((r.drift_kind,) if r.drift_kind else DriftKind)}
    )
    params: dict[str, object] = {"deployment": deployment_id, "rules": [r.id for r in rules]}
    params["depth"] = max(r.evaluation_periods for r in rules)
    for n, (metric, kind) in enumerate(pairs):
        params[f"metric_{n}"], params[f"kind_{n}"] = metric, kind
    out: _Windows = {}
    seen: set[tuple[str, DriftKind, datetime]] = set()
    alerts: dict[uuid.UUID, Alert] = {}
    for metric, kind, end, high, low, alert in await tx.session.execute(
        _latest(len(pairs)), params
    ):
        if (metric, kind, end) not in seen:
            seen.add((metric, kind, end))
            out.setdefault((metric, kind), []).append((end, float(high), float(low)))
        if alert is not None:
            alerts[alert.rule_id] = alert
    return out, alerts


_METRICS: Any = DriftMetric.__table__


@functools.cache
def _latest(parts: int) -> Select[Any]:
    """The windows statement for ``parts`` (metric, kind) pairs, with the open alerts (built
    once per count; the windows on the table, plain values)."""
    subqueries = [
        select(
            _METRICS.c.metric,
            _METRICS.c.kind,
            _METRICS.c.window_end,
            func.max(_METRICS.c.score).label("high"),
            func.min(_METRICS.c.score).label("low"),
        )
        .where(
            _METRICS.c.deployment_id == bindparam("deployment"),
            _METRICS.c.metric == bindparam(f"metric_{n}"),
            _METRICS.c.kind == bindparam(f"kind_{n}", type_=_METRICS.c.kind.type),
        )
        .group_by(_METRICS.c.metric, _METRICS.c.kind, _METRICS.c.window_end)
        .order_by(_METRICS.c.window_end.desc())
        .limit(bindparam("depth", type_=Integer))
        .subquery()
        for n in range(parts)
    ]
    latest = union_all(*(select(*part.c) for part in subqueries)).subquery()
    return (
        select(*latest.c, Alert)
        .select_from(latest)
        .outerjoin(Alert, _OPEN_ALERT)
        .order_by(latest.c.window_end.desc())
    )


def _periods(rule: AlertRule, windows: _Windows) -> list[tuple[datetime, float]]:
    """(window end, the rule's value) of the deployment's latest ``evaluation_periods`` windows
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
    return [(end, merged[end]) for end in latest]


async def _evaluate(
    tx: UnitOfWork,
    rule: AlertRule,
    deployment: Deployment,
    periods: list[tuple[datetime, float]],
    open_alert: Alert | None,
    silenced: Callable[[AlertRule, datetime], Awaitable[bool]],
) -> None:
    compare = COMPARE[rule.operator]
    breached = [compare(v, rule.threshold) for _, v in periods]
    holds = len(periods) >= rule.evaluation_periods and all(breached)
    if open_alert is not None and periods and not breached[0]:
        if open_alert.status == AlertStatus.PENDING:
            _clear(tx, open_alert)
        else:
            _resolve(tx, open_alert, periods[0][1])
    elif not holds:
        return
    elif open_alert is None:
        end, value = periods[0]
        if rule.for_seconds > 0:
            _pend(tx, rule, deployment, end, value)
        elif not await silenced(rule, end):
            _fire(tx, rule, deployment, value)
    elif open_alert.status == AlertStatus.PENDING:
        end, value = periods[0]
        assert open_alert.active_since is not None
        held = (end - open_alert.active_since).total_seconds() >= rule.for_seconds
        if held and not await silenced(rule, end):
            _promote(tx, rule, open_alert, value)


def _event(alert: Alert, rule: AlertRule) -> dict[str, object]:
    return {
        "alertId": encode_global_id("Alert", alert.id),
        "alertRuleId": encode_global_id("AlertRule", rule.id),
        "deploymentId": encode_global_id("Deployment", alert.deployment_id),
        "status": alert.status.value,
        "severity": alert.severity.value,
        "value": alert.value,
    }


def _message(rule: AlertRule, deployment_name: str, value: float) -> str:
    held = f" held {rule.for_seconds}s" if rule.for_seconds else ""
    return (
        f"{rule.name}: {rule.metric} {rule.operator.value} {rule.threshold} "
        f"for {rule.evaluation_periods} period(s){held} on {deployment_name} (now {value:g})"
    )


def _new_alert(
    tx: UnitOfWork,
    rule: AlertRule,
    deployment: Deployment,
    value: float,
    status: AlertStatus,
    active_since: datetime | None = None,
) -> Alert:
    """A new alert of ``rule`` on ``deployment``, added to the unit of work."""
    now = utcnow()
    alert = Alert(
        id=uuid.uuid4(),
        project_id=deployment.project_id,
        rule_id=rule.id,
        deployment_id=deployment.id,
        severity=rule.severity,
        status=status,
        message=_message(rule, deployment.name, value),
        value=value,
        fired_at=now,
        active_since=active_since,
        created_at=now,
        updated_at=now,
    )
    tx.session.add(alert)
    return alert


def _pend(
    tx: UnitOfWork, rule: AlertRule, deployment: Deployment, end: datetime, value: float
) -> None:
    """A breach that must hold ``for_seconds`` before it fires: PENDING, audited only."""
    alert = _new_alert(tx, rule, deployment, value, AlertStatus.PENDING, active_since=end)
    tx.audit("alert.pend", "Alert", alert.id, alert.project_id, before=None, after=snapshot(alert))


def _promote(tx: UnitOfWork, rule: AlertRule, alert: Alert, value: float) -> None:
    """PENDING -> FIRING: the breach held ``for_seconds``."""
    before = snapshot(alert)
    alert.status, alert.value, alert.fired_at = AlertStatus.FIRING, value, utcnow()
    tx.record(alert, "alert.fire", "alert.fired", before=before, payload=_event(alert, rule))


def _clear(tx: UnitOfWork, alert: Alert) -> None:
    """A PENDING alert whose breach ended before it fired: resolved, audited only."""
    before = snapshot(alert)
    alert.status, alert.resolved_at = AlertStatus.RESOLVED, utcnow()
    after = snapshot(alert)
    tx.audit("alert.clear", "Alert", alert.id, alert.project_id, before=before, after=after)


def _fire(tx: UnitOfWork, rule: AlertRule, deployment: Deployment, value: float) -> None:
    alert = _new_alert(tx, rule, deployment, value, AlertStatus.FIRING)
    tx.record(alert, "alert.fire", "alert.fired", before=None, payload=_event(alert, rule))


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
