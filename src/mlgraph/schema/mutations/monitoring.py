"""Monitoring mutations: inputs, payloads and fields."""

from __future__ import annotations

from datetime import datetime

import strawberry

from mlgraph.resolvers import monitoring
from mlgraph.schema.deployments import Deployment
from mlgraph.schema.enums import DriftKind, Operator, Severity
from mlgraph.schema.monitoring import Alert, AlertRule, Downtime
from mlgraph.schema.payloads import USER_ERRORS_DOC, UserError, command
from mlgraph.schema.raw_inputs import raw_input

_REVISION = "Fail with CONFLICT unless the alert rule's current revision is this one."
_IDEMPOTENCY = "Retries with the same key and input return the first result (24 h)."
_PERIODS = "Consecutive breaching windows before an alert fires, 1 to 100."
_FOR = (
    "How long (by the windows' ends) the breach must hold before the alert fires, 0 to "
    "604800 s; meanwhile the alert is PENDING (Prometheus `for`)."
)


@raw_input
@strawberry.input(description="One drift measurement of one feature over a time window.")
class DriftMetricInput:
    kind: DriftKind = strawberry.field(
        description="Data, concept or prediction drift, or OPERATIONAL for another series."
    )
    metric: str = strawberry.field(
        description="Statistic used, e.g. `psi`, or the series, e.g. `latency_p99`, "
        "`error_rate`, `throughput` (at most 64 chars)."
    )
    feature: str = strawberry.field(description="The feature, or `prediction` (at most 200 chars).")
    score: float = strawberry.field(description="Measured value (finite).")
    threshold: float = strawberry.field(description="Threshold the monitor applied (finite).")
    detected: bool | None = strawberry.field(
        default=None, description="The monitor judged this drift; default `score > threshold`."
    )
    window_start: datetime = strawberry.field(description="Start of the measured window.")
    window_end: datetime = strawberry.field(description="End of the window, after its start.")
    report_name: str | None = strawberry.field(
        default=None,
        description="Name of the monitor's JSON report (letters, digits, `._-`, `/` between "
        "parts), which it writes to `projects/<project>/deployments/<deployment>/reports/"
        "<name>` in the object store; read back as `DriftMetric.report`.",
    )


@raw_input
@strawberry.input(description="A batch of drift measurements of one deployment.")
class RecordDriftMetricsInput:
    deployment_id: strawberry.ID = strawberry.field(description="The monitored deployment.")
    metrics: list[DriftMetricInput] = strawberry.field(
        description="1 to 1000 measurements, recorded all or none."
    )


@strawberry.input(description="A new condition on drift metrics.")
class CreateAlertRuleInput:
    project_id: strawberry.ID = strawberry.field(description="The owning project.")
    name: str = strawberry.field(description="Display name.")
    metric: str = strawberry.field(description="Statistic watched, e.g. `psi` (at most 64 chars).")
    operator: Operator = strawberry.field(description="How the score compares to the threshold.")
    threshold: float = strawberry.field(description="The limit (finite).")
    severity: Severity = strawberry.field(description="Severity of the alerts it fires.")
    drift_kind: DriftKind | None = strawberry.field(
        default=None, description="Only this kind of drift; null for any."
    )
    evaluation_periods: int = strawberry.field(default=1, description=_PERIODS)
    for_seconds: int = strawberry.field(default=0, description=_FOR)
    deployment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this deployment (in the project); null for all of them."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="Changes to an alert rule; omitted fields stay as they are.")
class UpdateAlertRuleInput:
    alert_rule_id: strawberry.ID = strawberry.field(description="The alert rule.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)
    name: str | None = strawberry.field(default=None, description="New display name.")
    threshold: float | None = strawberry.field(default=None, description="New limit (finite).")
    operator: Operator | None = strawberry.field(default=None, description="New comparison.")
    evaluation_periods: int | None = strawberry.field(default=None, description=_PERIODS)
    for_seconds: int | None = strawberry.field(default=None, description=_FOR)
    severity: Severity | None = strawberry.field(default=None, description="New severity.")


@strawberry.input(description="Turn a disabled alert rule on.")
class EnableAlertRuleInput:
    alert_rule_id: strawberry.ID = strawberry.field(description="The alert rule.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Turn an enabled alert rule off.")
class DisableAlertRuleInput:
    alert_rule_id: strawberry.ID = strawberry.field(description="The alert rule.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Acknowledge a firing alert.")
class AcknowledgeAlertInput:
    alert_id: strawberry.ID = strawberry.field(description="The alert (FIRING).")
    comment: str | None = strawberry.field(
        default=None, description="A note for the audit log and the `alert.updated` event."
    )


@strawberry.input(description="Resolve a firing or acknowledged alert.")
class ResolveAlertInput:
    alert_id: strawberry.ID = strawberry.field(description="The alert (FIRING or ACKNOWLEDGED).")


@strawberry.input(description="A scheduled downtime: no alert fires in its scope meanwhile.")
class ScheduleDowntimeInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    starts_at: datetime = strawberry.field(
        description="Start; compared with the end of the latest measured window."
    )
    ends_at: datetime = strawberry.field(description="End (exclusive), at most 31 days later.")
    reason: str = strawberry.field(description="Why (required, at most 2000 characters).")
    deployment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this deployment (in the project); null: all of them."
    )
    alert_rule_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this rule (in the project); null: every rule."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="Remove a scheduled downtime.")
class CancelDowntimeInput:
    downtime_id: strawberry.ID = strawberry.field(description="The downtime.")


@strawberry.type(description="Result of `scheduleDowntime`.")
class ScheduleDowntimePayload:
    downtime: Downtime | None = strawberry.field(description="The downtime scheduled.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `cancelDowntime`.")
class CancelDowntimePayload:
    deleted_downtime_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the removed downtime."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `recordDriftMetrics`.")
class RecordDriftMetricsPayload:
    deployment: Deployment | None = strawberry.field(description="The monitored deployment.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)
    count: int = strawberry.field(default=0, description="Measurements recorded (0 if refused).")


@strawberry.type
class _AlertRulePayload:
    alert_rule: AlertRule | None = strawberry.field(description="The rule after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `createAlertRule`.")
class CreateAlertRulePayload(_AlertRulePayload):
    pass


@strawberry.type(description="Result of `updateAlertRule`.")
class UpdateAlertRulePayload(_AlertRulePayload):
    pass


@strawberry.type(description="Result of `enableAlertRule`.")
class EnableAlertRulePayload(_AlertRulePayload):
    pass


@strawberry.type(description="Result of `disableAlertRule`.")
class DisableAlertRulePayload(_AlertRulePayload):
    pass


@strawberry.type
class _AlertPayload:
    alert: Alert | None = strawberry.field(description="The alert after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `acknowledgeAlert`.")
class AcknowledgeAlertPayload(_AlertPayload):
    pass


@strawberry.type(description="Result of `resolveAlert`.")
class ResolveAlertPayload(_AlertPayload):
    pass


@strawberry.type
class MonitoringMutations:
    record_drift_metrics = command(
        monitoring.RecordDriftMetrics,
        RecordDriftMetricsInput,
        RecordDriftMetricsPayload,
        description="Record a batch of drift measurements of a deployment.",
    )
    create_alert_rule = command(
        monitoring.CreateAlertRule,
        CreateAlertRuleInput,
        CreateAlertRulePayload,
        description="Create an alert rule on a metric series (enabled).",
    )
    update_alert_rule = command(
        monitoring.UpdateAlertRule,
        UpdateAlertRuleInput,
        UpdateAlertRulePayload,
        description="Change an alert rule's name, threshold, `for` or severity.",
    )
    enable_alert_rule = command(
        monitoring.EnableAlertRule,
        EnableAlertRuleInput,
        EnableAlertRulePayload,
        description="Turn a disabled alert rule on.",
    )
    disable_alert_rule = command(
        monitoring.DisableAlertRule,
        DisableAlertRuleInput,
        DisableAlertRulePayload,
        description="Turn an enabled alert rule off.",
    )
    acknowledge_alert = command(
        monitoring.AcknowledgeAlert,
        AcknowledgeAlertInput,
        AcknowledgeAlertPayload,
        description="Acknowledge a firing alert.",
    )
    resolve_alert = command(
        monitoring.ResolveAlert,
        ResolveAlertInput,
        ResolveAlertPayload,
        description="Resolve a firing or acknowledged alert.",
    )
    schedule_downtime = command(
        monitoring.ScheduleDowntime,
        ScheduleDowntimeInput,
        ScheduleDowntimePayload,
        description="Schedule a downtime: no alert fires in its scope between its times.",
    )
    cancel_downtime = command(
        monitoring.CancelDowntime,
        CancelDowntimeInput,
        CancelDowntimePayload,
        description="Remove a scheduled downtime.",
    )
