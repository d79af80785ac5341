"""Typed ``<Type>Filter`` inputs. Their fields match the filters declared in storage.graph
(a test holds the two together); every given field must match (AND)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from mlgraph.schema.enums import (
    AlertStatus,
    DeliveryStatus,
    DeploymentEventKind,
    DeploymentStatus,
    DeploymentStrategy,
    DriftKind,
    Environment,
    JobKind,
    JobStatus,
    RiskTier,
    Severity,
    Stage,
)


@strawberry.input(description="Filter jobs.")
class JobFilter:
    status: list[JobStatus] | None = strawberry.field(default=None, description="Any of these.")
    kind: list[JobKind] | None = strawberry.field(default=None, description="Any of these kinds.")


@strawberry.input(description="Search models.")
class ModelFilter:
    name_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name."
    )
    tags: list[str] | None = strawberry.field(default=None, description="Has all of these tags.")
    risk_tier: list[RiskTier] | None = strawberry.field(default=None, description="Any of these.")
    stage: list[Stage] | None = strawberry.field(
        default=None, description="Has a version in any of these stages."
    )


@strawberry.input(description="Filter model versions.")
class ModelVersionFilter:
    stage: list[Stage] | None = strawberry.field(default=None, description="Any of these stages.")


@strawberry.input(description="Filter deployments.")
class DeploymentFilter:
    status: list[DeploymentStatus] | None = strawberry.field(
        default=None, description="Any of these."
    )
    environment: list[Environment] | None = strawberry.field(
        default=None, description="Any of these environments."
    )
    strategy: list[DeploymentStrategy] | None = strawberry.field(
        default=None, description="Any of these strategies."
    )


@strawberry.input(description="Filter deployment events.")
class DeploymentEventFilter:
    kind: list[DeploymentEventKind] | None = strawberry.field(
        default=None, description="Any of these."
    )


@strawberry.input(description="Filter drift metrics.")
class DriftMetricFilter:
    kind: list[DriftKind] | None = strawberry.field(default=None, description="Any of these kinds.")
    feature: str | None = strawberry.field(default=None, description="This feature only.")
    detected: bool | None = strawberry.field(default=None, description="Drift detected or not.")


@strawberry.input(description="Filter alerts.")
class AlertFilter:
    status: list[AlertStatus] | None = strawberry.field(default=None, description="Any of these.")
    severity: list[Severity] | None = strawberry.field(default=None, description="Any of these.")


@strawberry.input(description="Filter webhook deliveries.")
class WebhookDeliveryFilter:
    status: list[DeliveryStatus] | None = strawberry.field(
        default=None, description="Any of these."
    )


@strawberry.input(description="Filter the audit trail.")
class AuditEntryFilter:
    entity_id: strawberry.ID | None = strawberry.field(
        default=None, description="Entries about this object (global ID)."
    )
    entity_type: str | None = strawberry.field(default=None, description="Entries about this type.")
    actor: str | None = strawberry.field(default=None, description="Entries by this principal.")
    action: str | None = strawberry.field(
        default=None, description="This action, e.g. `model_version.transition`."
    )
    created_after: datetime | None = strawberry.field(
        default=None, description="At or after this time."
    )
    created_before: datetime | None = strawberry.field(
        default=None, description="Before this time."
    )


#: ``<Type>Filter`` input per entity, used by every connection to that entity.
FILTER_INPUTS: dict[str, Any] = {
    "Job": JobFilter,
    "Model": ModelFilter,
    "ModelVersion": ModelVersionFilter,
    "Deployment": DeploymentFilter,
    "DeploymentEvent": DeploymentEventFilter,
    "DriftMetric": DriftMetricFilter,
    "Alert": AlertFilter,
    "WebhookDelivery": WebhookDeliveryFilter,
    "AuditEntry": AuditEntryFilter,
}
