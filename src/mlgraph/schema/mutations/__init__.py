"""``Mutation``: one class per domain, composed here; each class's fields belong to its domain."""

from __future__ import annotations

import strawberry

from mlgraph.schema.columns import owned_by
from mlgraph.schema.mutations.api_keys import ApiKeyMutations
from mlgraph.schema.mutations.artifacts import ArtifactMutations
from mlgraph.schema.mutations.deployments import DeploymentMutations
from mlgraph.schema.mutations.monitoring import MonitoringMutations
from mlgraph.schema.mutations.pipelines import PipelineMutations
from mlgraph.schema.mutations.projects import ProjectMutations
from mlgraph.schema.mutations.registry import RegistryMutations
from mlgraph.schema.mutations.rollouts import RolloutMutations
from mlgraph.schema.mutations.webhooks import WebhookMutations
from mlgraph.storage.graph import DomainName

_DOMAINS: tuple[tuple[type, DomainName], ...] = (
    (ProjectMutations, "projects"),
    (PipelineMutations, "pipelines"),
    (RegistryMutations, "registry"),
    (DeploymentMutations, "deployments"),
    (RolloutMutations, "deployments"),
    (MonitoringMutations, "monitoring"),
    (ArtifactMutations, "registry"),
    (ApiKeyMutations, "projects"),
    (WebhookMutations, "webhooks"),
)
for _cls, _domain in _DOMAINS:
    for _field in _cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        _field.metadata = {**(_field.metadata or {}), **owned_by(_domain)}


@strawberry.type(description="Change the MLOps graph. Every mutation is audited.")
class Mutation(
    ProjectMutations,
    PipelineMutations,
    RegistryMutations,
    DeploymentMutations,
    RolloutMutations,
    MonitoringMutations,
    ArtifactMutations,
    ApiKeyMutations,
    WebhookMutations,
):
    pass
