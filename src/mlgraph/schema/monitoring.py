"""Drift metrics, alert rules and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from mlgraph.schema.enums import AlertStatus, DriftKind, Operator, Severity
from mlgraph.schema.objects import json_report
from mlgraph.schema.relay import Connection, Info, Node, connection, node_type, one

if TYPE_CHECKING:
    from mlgraph.schema.deployments import Deployment
    from mlgraph.schema.projects import Project


@node_type("One drift measurement of one feature over a time window.")
class DriftMetric(Node):
    kind: DriftKind = strawberry.field(description="Data, concept or prediction drift.")
    metric: str = strawberry.field(description="Statistic used, e.g. `psi`, `ks`.")
    feature: str = strawberry.field(description="The feature (or `prediction`).")
    score: float = strawberry.field(description="Measured value.")
    threshold: float = strawberry.field(description="Threshold the monitor applied.")
    detected: bool = strawberry.field(description="The monitor judged this drift.")
    window_start: datetime = strawberry.field(description="Start of the measured window.")
    window_end: datetime = strawberry.field(description="End of the measured window.")
    created_at: datetime = strawberry.field(description="When recorded.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    deployment: Annotated[Deployment, strawberry.lazy("mlgraph.schema.deployments")] | None = one(
        "DriftMetric", "deployment", "The monitored deployment."
    )

    @strawberry.field(
        description="The monitor's full JSON report from the object store; null if it wrote none."
    )
    async def report(self, info: Info) -> JSON | None:
        key = self.row.report_key
        return None if key is None else await json_report(info, key)


@node_type("A condition on drift metrics that fires alerts.")
class AlertRule(Node):
    name: str = strawberry.field(description="Display name.")
    metric: str = strawberry.field(description="Statistic the rule watches, e.g. `psi`.")
    drift_kind: DriftKind | None = strawberry.field(description="Only this kind; null for any.")
    operator: Operator = strawberry.field(description="How the score compares to the threshold.")
    threshold: float = strawberry.field(description="The limit.")
    evaluation_periods: int = strawberry.field(description="Consecutive breaches before firing.")
    severity: Severity = strawberry.field(description="Severity of the alerts it fires.")
    enabled: bool = strawberry.field(description="Disabled rules are not evaluated.")
    revision: int = strawberry.field(
        description="Increases on every change; pass it as `expectedRevision` to update."
    )
    created_at: datetime = strawberry.field(description="When created.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    project: Annotated[Project, strawberry.lazy("mlgraph.schema.projects")] | None = one(
        "AlertRule", "project", "The owning project."
    )
    deployment: Annotated[Deployment, strawberry.lazy("mlgraph.schema.deployments")] | None = one(
        "AlertRule", "deployment", "Only this deployment; null for every deployment."
    )
    alerts: Connection[Alert] = connection("AlertRule", "alerts", "Alerts fired by this rule.")


@node_type("A rule breach on one deployment, open until resolved.")
class Alert(Node):
    severity: Severity = strawberry.field(description="How urgent.")
    status: AlertStatus = strawberry.field(description="Firing, acknowledged or resolved.")
    message: str = strawberry.field(description="What breached.")
    value: float = strawberry.field(description="The metric value that fired it.")
    fired_at: datetime = strawberry.field(description="When it fired.")
    acknowledged_at: datetime | None = strawberry.field(description="When acknowledged.")
    resolved_at: datetime | None = strawberry.field(description="When resolved.")
    created_at: datetime = strawberry.field(description="When recorded.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    project: Annotated[Project, strawberry.lazy("mlgraph.schema.projects")] | None = one(
        "Alert", "project", "The owning project."
    )
    rule: AlertRule | None = one("Alert", "rule", "The rule that fired.")
    deployment: Annotated[Deployment, strawberry.lazy("mlgraph.schema.deployments")] | None = one(
        "Alert", "deployment", "The deployment it concerns."
    )
