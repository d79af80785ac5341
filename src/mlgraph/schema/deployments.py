"""Deployments, their traffic split and their event history."""

from typing import TYPE_CHECKING, TypeAlias

from mlgraph.schema.declared import entity_type
from mlgraph.schema.relay import Node

if TYPE_CHECKING:  # mypy sees the generated types as Node
    Deployment: TypeAlias = Node
    DeploymentTarget: TypeAlias = Node
    DeploymentEvent: TypeAlias = Node
    Rollout: TypeAlias = Node
else:
    Deployment = entity_type("Deployment")
    DeploymentTarget = entity_type("DeploymentTarget")
    DeploymentEvent = entity_type("DeploymentEvent")
    Rollout = entity_type("Rollout")
