"""``Mutation``: one class per domain, composed here."""

from __future__ import annotations

import strawberry

from mlgraph.schema.mutations.api_keys import ApiKeyMutations
from mlgraph.schema.mutations.artifacts import ArtifactMutations
from mlgraph.schema.mutations.deployments import DeploymentMutations
from mlgraph.schema.mutations.monitoring import MonitoringMutations
from mlgraph.schema.mutations.pipelines import PipelineMutations
from mlgraph.schema.mutations.projects import ProjectMutations
from mlgraph.schema.mutations.registry import RegistryMutations


@strawberry.type(description="Change the MLOps graph. Every mutation is audited.")
class Mutation(
    ProjectMutations,
    PipelineMutations,
    RegistryMutations,
    DeploymentMutations,
    MonitoringMutations,
    ArtifactMutations,
    ApiKeyMutations,
):
    pass
