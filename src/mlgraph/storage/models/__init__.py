"""SQLAlchemy 2 typed models, one module per domain. Importing this registers every table."""

from mlgraph.storage.models.audit import AuditEntry, AuditHead
from mlgraph.storage.models.auth import ApiKey
from mlgraph.storage.models.deployments import (
    Deployment,
    DeploymentEvent,
    DeploymentTarget,
    Rollout,
)
from mlgraph.storage.models.events import OutboxEvent
from mlgraph.storage.models.idempotency import IdempotencyKey
from mlgraph.storage.models.monitoring import Alert, AlertRule, Downtime, DriftMetric
from mlgraph.storage.models.pipelines import Job, Pipeline
from mlgraph.storage.models.projects import Project, ProjectMember
from mlgraph.storage.models.ratelimit import RateLimitBucket
from mlgraph.storage.models.reads import ArtifactDownload
from mlgraph.storage.models.registry import (
    Artifact,
    Model,
    ModelAlias,
    ModelVersion,
    ModelVersionApproval,
    ModelVersionLineage,
)
from mlgraph.storage.models.webhooks import (
    Webhook,
    WebhookCursor,
    WebhookDelivery,
    WebhookDeliveryAttempt,
)

__all__ = [
    "Alert",
    "AlertRule",
    "ApiKey",
    "Artifact",
    "ArtifactDownload",
    "AuditEntry",
    "AuditHead",
    "Deployment",
    "DeploymentEvent",
    "DeploymentTarget",
    "Downtime",
    "DriftMetric",
    "IdempotencyKey",
    "Job",
    "Model",
    "ModelAlias",
    "ModelVersion",
    "ModelVersionApproval",
    "ModelVersionLineage",
    "OutboxEvent",
    "Pipeline",
    "Project",
    "ProjectMember",
    "RateLimitBucket",
    "Rollout",
    "Webhook",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
]
