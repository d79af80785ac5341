"""The domain enumerations, registered as GraphQL enums with their documentation.

The classes are the storage ones (values stored as their names); import them from here in the
schema layer so the registration has happened.
"""

from __future__ import annotations

import strawberry

from mlgraph.storage.enums import (
    AlertStatus,
    ArtifactKind,
    ArtifactStatus,
    DeliveryStatus,
    DeploymentEventKind,
    DeploymentStatus,
    DeploymentStrategy,
    DriftKind,
    Environment,
    JobKind,
    JobStatus,
    Operator,
    RiskTier,
    Role,
    RolloutStatus,
    Severity,
    Stage,
    WebhookFormat,
)

__all__ = [
    "AlertStatus",
    "ArtifactKind",
    "ArtifactStatus",
    "DeliveryStatus",
    "DeploymentEventKind",
    "DeploymentStatus",
    "DeploymentStrategy",
    "DriftKind",
    "Environment",
    "JobKind",
    "JobStatus",
    "Operator",
    "RiskTier",
    "Role",
    "RolloutStatus",
    "Severity",
    "Stage",
    "WebhookFormat",
]

strawberry.enum(Role, description="A principal's role in one project.")
strawberry.enum(JobKind, description="What a job does.")
strawberry.enum(
    JobStatus,
    description="QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED; terminal states are final.",
)
strawberry.enum(RiskTier, description="How much harm a model can do; HIGH needs approvals.")
strawberry.enum(
    Stage, description="A version's lifecycle: DRAFT -> STAGING -> PRODUCTION -> ARCHIVED."
)
strawberry.enum(ArtifactKind, description="What an artifact holds.")
strawberry.enum(ArtifactStatus, description="PENDING until its upload is verified, then AVAILABLE.")
strawberry.enum(Environment, description="Where a deployment serves.")
strawberry.enum(DeploymentStrategy, description="How traffic moves.")
strawberry.enum(DeploymentStatus, description="A deployment's state.")
strawberry.enum(DeploymentEventKind, description="What happened to a deployment.")
strawberry.enum(
    DriftKind,
    description="Which distribution drifted, or OPERATIONAL for a series that is not drift.",
)
strawberry.enum(
    RolloutStatus,
    description="RUNNING -> PAUSED -> RUNNING ...; ends SUCCEEDED, ROLLED_BACK or ABORTED.",
)
strawberry.enum(Operator, description="Comparison of a metric to a threshold.")
strawberry.enum(Severity, description="How urgent an alert is.")
strawberry.enum(AlertStatus, description="An alert's state.")
strawberry.enum(DeliveryStatus, description="A webhook delivery's state.")
strawberry.enum(
    WebhookFormat,
    description="A webhook's body: STANDARD (`{type, timestamp, data}`) or SLACK (`{text}`).",
)
