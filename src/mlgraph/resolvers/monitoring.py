"""Monitoring: record drift metrics, manage alert rules, acknowledge and resolve alerts.

Each recorded batch evaluates the project's alert rules in the same transaction (see
``resolvers.alerting``): alerts fire and resolve with the data that caused them.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.alerting import evaluate_alert_rules
from mlgraph.resolvers.commands import Command, Delete, Target
from mlgraph.resolvers.common import TEXT_MAX, Checks, fetch, snapshot
from mlgraph.storage.audit import Rider
from mlgraph.storage.bulk import insert_rows
from mlgraph.storage.enums import AlertStatus
from mlgraph.storage.models import (
    Alert,
    AlertRule,
    Deployment,
    Downtime,
    DriftMetric,
    Project,
)
from mlgraph.storage.objects.keys import drift_report_key
from mlgraph.storage.types import utcnow

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.monitoring import (  # noqa: F401
        AcknowledgeAlertInput,
        CancelDowntimeInput,
        CreateAlertRuleInput,
        DisableAlertRuleInput,
        DriftMetricInput,
        EnableAlertRuleInput,
        RecordDriftMetricsInput,
        ResolveAlertInput,
        ScheduleDowntimeInput,
        UpdateAlertRuleInput,
    )

M = TypeVar("M", Deployment, AlertRule)

METRICS_MAX = 1000
METRIC_MAX, FEATURE_MAX = 64, 200
PERIODS_MIN, PERIODS_MAX = 1, 100
FOR_MAX = 7 * 86400
DOWNTIME_MAX = timedelta(days=31)


#: A relative name with no empty, "." or ".." part, so the key stays under its prefix.
REPORT_NAME = re.compile(
    r"(?!\.{1,2}(/|$))[\w.-]{1,100}(/(?!\.{1,2}(/|$))[\w.-]{1,100}){0,4}", re.A
)


def _check_metrics(metrics: list[DriftMetricInput]) -> None:
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


class RecordDriftMetrics(Command["RecordDriftMetricsInput", Deployment]):
    """Store a batch of drift measurements of one deployment, all or nothing."""

    target = Target(Deployment, "deployment_id", lock=False)

    def check(self, checks: Checks) -> None:
        _check_metrics(self.input.metrics)

    async def apply(self, deployment: Deployment) -> Deployment:
        tx, now = self.tx, utcnow()
        rows = [
            {
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
            }
            for item in self.input.metrics
        ]
        batch = {
            "project_id": deployment.project_id,
            "deployment_id": deployment.id,
            "created_at": now,
            "updated_at": now,
        }
        measured = {(item.metric, item.kind) for item in self.input.metrics}
        await evaluate_alert_rules(
            tx, deployment, measured, rider=drift_metrics_insert(tx.session, rows, batch)
        )
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
        self.fields["count"] = len(rows)
        return deployment


def drift_metrics_insert(
    s: AsyncSession, rows: list[dict[str, Any]], batch: dict[str, Any]
) -> Rider:
    """One INSERT per batch (``storage.bulk``): the values that differ between the metrics as
    arrays, those they share and the batch's own (``batch``) once, ids made by the database.
    It rides on alert evaluation's first statement (``evaluate_alert_rules``)."""
    postgresql = s.get_bind().dialect.name == "postgresql"
    return insert_rows(
        DriftMetric, rows, postgresql=postgresql, same=batch, fresh_ids=True, collapse=True
    )


def _check_rule(checks: Checks, input: CreateAlertRuleInput | UpdateAlertRuleInput) -> None:
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
    if input.for_seconds is not None and not 0 <= input.for_seconds <= FOR_MAX:
        checks.fail(
            UserErrorCode.INVALID, f"forSeconds must be within [0, {FOR_MAX}]", "forSeconds"
        )


class _RuleEvent:
    """The outbox payload of every alert-rule change."""

    def event(self, changed: AlertRule) -> dict[str, Any]:
        return {
            "alertRuleId": encode_global_id("AlertRule", changed.id),
            "enabled": changed.enabled,
        }


class CreateAlertRule(_RuleEvent, Command["CreateAlertRuleInput", Project]):
    target = Target(Project, "project_id", lock=False)
    action, topic, creates = "alert_rule.create", "alert_rule.created", True

    def check(self, checks: Checks) -> None:
        _check_rule(checks, self.input)
        checks.text(self.input.metric, "metric", max_len=METRIC_MAX)

    async def apply(self, project: Project) -> AlertRule:
        ctx, s, input = self.ctx, self.tx.session, self.input
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
            for_seconds=input.for_seconds,
            severity=input.severity,
            enabled=True,
        )
        s.add(rule)
        return rule


_RULE = Target(AlertRule, "alert_rule_id")


class UpdateAlertRule(_RuleEvent, Command["UpdateAlertRuleInput", AlertRule]):
    """Change the given fields; omitted (or null) fields stay as they are."""

    target = _RULE
    action, topic = "alert_rule.update", "alert_rule.updated"

    def check(self, checks: Checks) -> None:
        _check_rule(checks, self.input)

    async def apply(self, rule: AlertRule) -> AlertRule:
        for field in (
            "name",
            "threshold",
            "operator",
            "evaluation_periods",
            "for_seconds",
            "severity",
        ):
            value = getattr(self.input, field)
            if value is not None:
                setattr(rule, field, value)
        return rule


class EnableAlertRule(
    _RuleEvent, Command["EnableAlertRuleInput | DisableAlertRuleInput", AlertRule]
):
    target = _RULE
    action, topic = "alert_rule.enable", "alert_rule.enabled"
    enabled = True

    async def apply(self, rule: AlertRule) -> AlertRule:
        if rule.enabled == self.enabled:
            verb = "enable" if self.enabled else "disable"
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                f"alert rule is already {verb}d",
                "input",
                "alertRuleId",
            )
        rule.enabled = self.enabled
        return rule


class DisableAlertRule(EnableAlertRule):
    action, topic = "alert_rule.disable", "alert_rule.disabled"
    enabled = False


class AcknowledgeAlert(Command["AcknowledgeAlertInput | ResolveAlertInput", Alert]):
    """FIRING -> ACKNOWLEDGED; the comment goes to the audit entry and the outbox event."""

    target = Target(Alert, "alert_id")
    action = "alert.acknowledge"
    allowed: tuple[AlertStatus, ...] = (AlertStatus.FIRING,)
    to = AlertStatus.ACKNOWLEDGED

    def check(self, checks: Checks) -> None:
        checks.text(self.comment, "comment", max_len=TEXT_MAX, required=False)

    @property
    def comment(self) -> str | None:
        return getattr(self.input, "comment", None)

    async def apply(self, alert: Alert) -> Alert:
        to = self.to
        if alert.status not in self.allowed:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                f"alert is {alert.status.value}, cannot become {to.value}",
                "input",
                "alertId",
            )
        alert.status = to
        if to == AlertStatus.ACKNOWLEDGED:
            alert.acknowledged_at = utcnow()
        else:
            alert.resolved_at = utcnow()
        return alert

    def record(self, changed: Alert) -> None:
        after = snapshot(changed)
        payload = {"alertId": encode_global_id("Alert", changed.id), "status": self.to.value}
        if self.comment is not None:
            after["comment"] = payload["comment"] = self.comment
        self.tx.audit(
            self.action, "Alert", changed.id, changed.project_id, before=self.before, after=after
        )
        self.tx.emit("alert.updated", "Alert", changed.id, changed.project_id, payload)


class ResolveAlert(AcknowledgeAlert):
    """FIRING or ACKNOWLEDGED -> RESOLVED."""

    action = "alert.resolve"
    allowed = (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)
    to = AlertStatus.RESOLVED


class ScheduleDowntime(Command["ScheduleDowntimeInput", Project]):
    """No alert fires in the scope (project, or a deployment, or a rule) between the times."""

    target = Target(Project, "project_id", lock=False)
    action, topic, creates = "downtime.schedule", "downtime.scheduled", True

    def check(self, checks: Checks) -> None:
        input = self.input
        checks.text(input.reason, "reason", max_len=TEXT_MAX)
        if input.starts_at.tzinfo is None or input.ends_at.tzinfo is None:
            checks.fail(UserErrorCode.INVALID, "times need a UTC offset", "endsAt")
        elif input.ends_at <= input.starts_at:
            checks.fail(UserErrorCode.INVALID, "endsAt must be after startsAt", "endsAt")
        elif input.ends_at - input.starts_at > DOWNTIME_MAX:
            checks.fail(UserErrorCode.LIMIT_EXCEEDED, f"at most {DOWNTIME_MAX.days} days", "endsAt")

    async def apply(self, project: Project) -> Downtime:
        input = self.input
        deployment = await self._in(project, Deployment, input.deployment_id, "deploymentId")
        rule = await self._in(project, AlertRule, input.alert_rule_id, "alertRuleId")
        scope = {
            "deployment_id": None if deployment is None else deployment.id,
            "rule_id": None if rule is None else rule.id,
        }
        downtime = Downtime(
            id=uuid.uuid4(),
            project_id=project.id,
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            reason=input.reason,
            **scope,
        )
        self.tx.session.add(downtime)
        return downtime

    async def _in(
        self, project: Project, model: type[M], global_id: str | None, field: str
    ) -> M | None:
        """The scope's row named by ``field`` (None when not given); it must be the project's."""
        if global_id is None:
            return None
        type_name = model.__name__
        row = await fetch(self.ctx, self.tx.session, model, global_id, type_name, field)
        if row.project_id != project.id:
            raise UserErrors.one(
                UserErrorCode.INVALID, f"{type_name} is not in this project", "input", field
            )
        return row

    def event(self, changed: Downtime) -> dict[str, Any]:
        return {"downtimeId": encode_global_id("Downtime", changed.id)}


class CancelDowntime(Delete["CancelDowntimeInput", Downtime]):
    """Remove a downtime (alerts fire again in its scope)."""

    target = Target(Downtime, "downtime_id")
    action, topic = "downtime.cancel", "downtime.deleted"
