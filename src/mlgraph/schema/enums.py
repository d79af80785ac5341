"""The domain enumerations, exposed as GraphQL enums with their documentation."""

from __future__ import annotations

import strawberry

from mlgraph.storage import enums as e

Role = strawberry.enum(e.Role, description="A principal's role in one project.")
JobKind = strawberry.enum(e.JobKind, description="What a job does.")
JobStatus = strawberry.enum(
    e.JobStatus, description="QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED; terminal is final."
)
RiskTier = strawberry.enum(e.RiskTier, description="How much harm a model can do; HIGH needs approvals.")
Stage = strawberry.enum(
    e.Stage, description="A version's lifecycle: DRAFT -> STAGING -> PRODUCTION -> ARCHIVED."
)
ArtifactKind = strawberry.enum(e.ArtifactKind, description="What an artifact holds.")
ArtifactStatus = strawberry.enum(
    e.ArtifactStatus, description="PENDING until its upload is verified, then AVAILABLE."
)
Environment = strawberry.enum(e.Environment, description="Where a deployment serves.")
DeploymentStrategy = strawberry.enum(e.DeploymentStrategy, description="How traffic moves.")
DeploymentStatus = strawberry.enum(e.DeploymentStatus, description="A deployment's state.")
DeploymentEventKind = strawberry.enum(
    e.DeploymentEventKind, description="What happened to a deployment."
)
DriftKind = strawberry.enum(e.DriftKind, description="Which distribution drifted.")
Operator = strawberry.enum(e.Operator, description="Comparison of a metric to a threshold.")
Severity = strawberry.enum(e.Severity, description="How urgent an alert is.")
AlertStatus = strawberry.enum(e.AlertStatus, description="An alert's state.")
DeliveryStatus = strawberry.enum(e.DeliveryStatus, description="A webhook delivery's state.")
