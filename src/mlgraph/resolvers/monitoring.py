"""Monitoring: record drift metrics, manage alert rules, acknowledge and resolve alerts.

Each recorded batch evaluates the project's alert rules in the same transaction (see
``resolvers.alerting``): alerts fire and resolve with the data that caused them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.context import Context
from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.alerting import evaluate_alert_rules
from mlgraph.resolvers.common import (
    TEXT_MAX,
    Checks,
    check_revision,
    fetch,
    remember,
    replay,
    snapshot,
)
from mlgraph.storage.bulk import insert_rows
from mlgraph.storage.enums import AlertStatus
from mlgraph.storage.models import Alert, AlertRule, Deployment, DriftMetric, Project
from mlgraph.storage.objects.keys import drift_report_key
from mlgraph.storage.types import utcnow

METRICS_MAX = 1000
METRIC_MAX, FEATURE_MAX = 64, 200
PERIODS_MIN, PERIODS_MAX = 1, 100


#: A relative name with no empty, "." or ".." part, so the key stays under its prefix.
REPORT_NAME = re.compile(
    r"(?!\.{1,2}(/|$))[\w.-]{1,100}(/(?!\.{1,2}(/|$))[\w.-]{1,100}){0,4}", re.A
)


def _check_metrics(metrics: list[Any]) -> None:
    if len(metrics) > METRICS_MAX:
        raise UserErrors.one(
            UserErrorCode.LIMIT_EXCEEDED,
            f"at most {METRICS_MAX} metrics per call",
            "input",
            "metrics",
        )
    checks = Checks()
    if not metrics:
        checks.fail(UserErrorCode.INVALID, "metrics must not be empty", "metrics")
    for n, item in enumerate(metrics):
        i = str(n)
        checks.text(item.metric, "metrics", i, "metric", max_len=METRIC_MAX)
        checks.text(item.feature, "metrics", i, "feature", max_len=FEATURE_MAX)
        checks.number(item.score, "metrics", i, "score")
        checks.number(item.threshold, "metrics", i, "threshold")
        if item.report_name is not None and not REPORT_NAME.fullmatch(item.report_name):
            checks.fail(
                UserErrorCode.INVALID,
                "reportName must be parts of letters, digits and ._- joined by /",
                "metrics",
                i,
                "reportName",
            )
        if item.window_start >= item.window_end:
            checks.fail(
                UserErrorCode.INVALID,
                "windowStart must be before windowEnd",
                "metrics",
                i,
                "windowEnd",
            )
    checks.done()


async def record_drift_metrics(ctx: Context, input: Any) -> uuid.UUID:
    """Store a batch of drift measurements of one deployment, all or nothing."""
    _check_metrics(input.metrics)
    async with ctx.uow() as tx:
        s = tx.session
        deployment = await fetch(
            ctx, s, Deployment, input.deployment_id, "Deployment", "deploymentId"
        )
        now = utcnow()
        rows = [
            {
                "id": uuid.uuid4(),
                "project_id": deployment.project_id,
                "deployment_id": deployment.id,
                "kind": item.kind,
                "metric": item.metric,
                "feature": item.feature,
                "score": item.score,
                "threshold": item.threshold,
                "detected": item.score > item.threshold if item.detected is None else item.detected,
                "window_start": item.window_start,
                "window_end": item.window_end,
                "report_key": None
                if item.report_name is None
                else drift_report_key(deployment.project_id, deployment.id, item.report_name),
                "created_at": now,
                "updated_at": now,
            }
            for item in input.metrics
        ]
        await insert_drift_metrics(s, rows)
        await evaluate_alert_rules(tx, deployment, {(r["metric"], r["kind"]) for r in rows})
        detected = sum(1 for r in rows if r["detected"])
        tx.audit(
            "drift.record",
            "Deployment",
            deployment.id,
            deployment.project_id,
            before=None,
            after={"count": len(rows)},
        )
        tx.emit(
            "drift.recorded",
            "Deployment",
            deployment.id,
            deployment.project_id,
            {
                "deploymentId": encode_global_id("Deployment", deployment.id),
                "count": len(rows),
                "detected": detected,
            },
        )
        return deployment.id


async def insert_drift_metrics(s: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One INSERT per batch, the same statement for any batch size (``storage.bulk``)."""
    postgresql = s.get_bind().dialect.name == "postgresql"
    await s.execute(*insert_rows(DriftMetric, rows, postgresql=postgresql))


def _check_rule(checks: Checks, input: Any) -> None:
    checks.text(input.name, "name")
    checks.number(input.threshold, "threshold")
    if input.evaluation_periods is not None and not (
        PERIODS_MIN <= input.evaluation_periods <= PERIODS_MAX
    ):
        checks.fail(
            UserErrorCode.INVALID,
            f"evaluationPeriods must be within [{PERIODS_MIN}, {PERIODS_MAX}]",
            "evaluationPeriods",
        )


def _rule_event(rule: AlertRule) -> dict[str, Any]:
    return {"alertRuleId": encode_global_id("AlertRule", rule.id), "enabled": rule.enabled}


async def create_alert_rule(ctx: Context, input: Any) -> uuid.UUID:
    checks = Checks()
    _check_rule(checks, input)
    checks.text(input.metric, "metric", max_len=METRIC_MAX)
    checks.done()
    async with ctx.uow() as tx:
        s = tx.session
        if done := await replay(ctx, s, "createAlertRule", input.idempotency_key, input):
            return done
        project = await fetch(ctx, s, Project, input.project_id, "Project", "projectId")
        deployment_id: uuid.UUID | None = None
        if input.deployment_id is not None:
            deployment = await fetch(
                ctx, s, Deployment, input.deployment_id, "Deployment", "deploymentId"
            )
            if deployment.project_id != project.id:
                raise UserErrors.one(
                    UserErrorCode.INVALID,
                    "deployment is not in this project",
                    "input",
                    "deploymentId",
                )
            deployment_id = deployment.id
        rule = AlertRule(
            id=uuid.uuid4(),
            project_id=project.id,
            deployment_id=deployment_id,
            name=input.name,
            metric=input.metric,
            drift_kind=input.drift_kind,
            operator=input.operator,
            threshold=input.threshold,
            evaluation_periods=input.evaluation_periods,
            severity=input.severity,
            enabled=True,
        )
        s.add(rule)
        await s.flush()
        tx.record(
            rule,
            "alert_rule.create",
            "alert_rule.created",
            before=None,
            payload=_rule_event(rule),
        )
        remember(ctx, s, "createAlertRule", input.idempotency_key, input, "AlertRule", rule.id)
        return rule.id


async def update_alert_rule(ctx: Context, input: Any) -> uuid.UUID:
    """Change the given fields; omitted (or null) fields stay as they are."""
    checks = Checks()
    _check_rule(checks, input)
    checks.done()
    async with ctx.uow() as tx:
        rule = await fetch(
            ctx, tx.session, AlertRule, input.alert_rule_id, "AlertRule", "alertRuleId", lock=True
        )
        check_revision(rule, input.expected_revision)
        before = snapshot(rule)
        for field in ("name", "threshold", "operator", "evaluation_periods", "severity"):
            value = getattr(input, field)
            if value is not None:
                setattr(rule, field, value)
        await tx.session.flush()
        tx.record(
            rule,
            "alert_rule.update",
            "alert_rule.updated",
            before=before,
            payload=_rule_event(rule),
        )
        return rule.id


async def _switch_alert_rule(ctx: Context, input: Any, enabled: bool) -> uuid.UUID:
    verb = "enable" if enabled else "disable"
    async with ctx.uow() as tx:
        rule = await fetch(
            ctx, tx.session, AlertRule, input.alert_rule_id, "AlertRule", "alertRuleId", lock=True
        )
        check_revision(rule, input.expected_revision)
        if rule.enabled == enabled:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                f"alert rule is already {verb}d",
                "input",
                "alertRuleId",
            )
        before = snapshot(rule)
        rule.enabled = enabled
        await tx.session.flush()
        tx.audit(
            f"alert_rule.{verb}",
            "AlertRule",
            rule.id,
            rule.project_id,
            before=before,
            after=snapshot(rule),
        )
        tx.emit(f"alert_rule.{verb}d", "AlertRule", rule.id, rule.project_id, _rule_event(rule))
        return rule.id


async def enable_alert_rule(ctx: Context, input: Any) -> uuid.UUID:
    return await _switch_alert_rule(ctx, input, True)


async def disable_alert_rule(ctx: Context, input: Any) -> uuid.UUID:
    return await _switch_alert_rule(ctx, input, False)


async def _move_alert(
    ctx: Context,
    input: Any,
    action: str,
    allowed: tuple[AlertStatus, ...],
    to: AlertStatus,
    comment: str | None = None,
) -> uuid.UUID:
    async with ctx.uow() as tx:
        alert = await fetch(ctx, tx.session, Alert, input.alert_id, "Alert", "alertId", lock=True)
        if alert.status not in allowed:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                f"alert is {alert.status.value}, cannot become {to.value}",
                "input",
                "alertId",
            )
        before = snapshot(alert)
        alert.status = to
        if to == AlertStatus.ACKNOWLEDGED:
            alert.acknowledged_at = utcnow()
        else:
            alert.resolved_at = utcnow()
        await tx.session.flush()
        after = snapshot(alert)
        payload = {"alertId": encode_global_id("Alert", alert.id), "status": to.value}
        if comment is not None:
            after["comment"] = payload["comment"] = comment
        tx.audit(action, "Alert", alert.id, alert.project_id, before=before, after=after)
        tx.emit("alert.updated", "Alert", alert.id, alert.project_id, payload)
        return alert.id


async def acknowledge_alert(ctx: Context, input: Any) -> uuid.UUID:
    """FIRING -> ACKNOWLEDGED; the comment goes to the audit entry and the outbox event."""
    checks = Checks()
    checks.text(input.comment, "comment", max_len=TEXT_MAX, required=False)
    checks.done()
    return await _move_alert(
        ctx,
        input,
        "alert.acknowledge",
        (AlertStatus.FIRING,),
        AlertStatus.ACKNOWLEDGED,
        input.comment,
    )


async def resolve_alert(ctx: Context, input: Any) -> uuid.UUID:
    """FIRING or ACKNOWLEDGED -> RESOLVED."""
    return await _move_alert(
        ctx,
        input,
        "alert.resolve",
        (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED),
        AlertStatus.RESOLVED,
    )
