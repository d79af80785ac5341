"""Deployments, their traffic split and their event history."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from mlgraph.schema.enums import (
    DeploymentEventKind,
    DeploymentStatus,
    DeploymentStrategy,
    Environment,
)
from mlgraph.schema.relay import Connection, Node, connection, listing, node_type, one

if TYPE_CHECKING:
    from mlgraph.schema.monitoring import Alert, DriftMetric
    from mlgraph.schema.projects import Project
    from mlgraph.schema.registry import Model, ModelVersion


@node_type("A model served in an environment, with traffic split over its versions.")
class Deployment(Node):
    name: str = strawberry.field(description="Unique within the project.")
    environment: Environment = strawberry.field(description="Where it serves.")
    strategy: DeploymentStrategy = strawberry.field(
        description="How traffic moves between versions."
    )
    status: DeploymentStatus = strawberry.field(description="Current state.")
    config: JSON = strawberry.field(description="Strategy configuration.")
    revision: int = strawberry.field(
        description="Increases on every change; pass it as `expectedRevision` to update."
    )
    created_at: datetime = strawberry.field(description="When created.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    project: Annotated[Project, strawberry.lazy("mlgraph.schema.projects")] | None = one(
        "Deployment", "project", "The owning project."
    )
    model: Annotated[Model, strawberry.lazy("mlgraph.schema.registry")] | None = one(
        "Deployment", "model", "The deployed model."
    )
    targets: list[DeploymentTarget] = listing(
        "Deployment", "targets", "Versions served and their traffic share, largest first."
    )
    events: Connection[DeploymentEvent] = connection(
        "Deployment", "events", "What happened to this deployment, newest first."
    )
    drift_metrics: Connection[
        Annotated[DriftMetric, strawberry.lazy("mlgraph.schema.monitoring")]
    ] = connection("Deployment", "drift_metrics", "Drift measurements, newest first.")
    alerts: Connection[Annotated[Alert, strawberry.lazy("mlgraph.schema.monitoring")]] = connection(
        "Deployment", "alerts", "Alerts on this deployment, most recent first."
    )


@node_type("One version served by a deployment and its share of traffic.")
class DeploymentTarget(Node):
    traffic_percent: float = strawberry.field(description="Share of traffic, 0..100.")
    created_at: datetime = strawberry.field(description="When the version was added.")
    updated_at: datetime = strawberry.field(description="When its share last changed.")
    deployment: Deployment | None = one("DeploymentTarget", "deployment", "The deployment.")
    version: Annotated[ModelVersion, strawberry.lazy("mlgraph.schema.registry")] | None = one(
        "DeploymentTarget", "version", "The served version."
    )


@node_type("Something that happened to a deployment (traffic shift, promotion, rollback).")
class DeploymentEvent(Node):
    kind: DeploymentEventKind = strawberry.field(description="What happened.")
    message: str = strawberry.field(description="Human-readable summary or reason.")
    data: JSON = strawberry.field(description="Details, e.g. traffic before and after.")
    actor: str = strawberry.field(description="Who caused it.")
    created_at: datetime = strawberry.field(description="When it happened.")
    updated_at: datetime = strawberry.field(description="When recorded.")
    deployment: Deployment | None = one("DeploymentEvent", "deployment", "The deployment.")
