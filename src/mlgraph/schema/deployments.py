"""Deployments, their traffic split and their event history."""

from typing import TYPE_CHECKING, Any, TypeAlias

import strawberry

from mlgraph.schema import history
from mlgraph.schema.audit import AuditEntry
from mlgraph.schema.declared import entity_type
from mlgraph.schema.relay import Info, Node, listing


class _DeploymentFields:
    targets = listing("Deployment", "targets", history.targets_as_of, history.AS_OF_DOC)
    traffic_history = history.history_field(
        "traffic", "id", history.TrafficChange, "Changes of this deployment's traffic split"
    )


class _DeploymentTargetFields:
    @strawberry.field(
        description=(
            "The audit entry that recorded the traffic split this share is part of (as of "
            "`asOf` when the list was asked as of a time); null if none was recorded."
        )
    )
    async def audit_entry(self, info: Info) -> AuditEntry | None:
        row: Any = self.row  # type: ignore[attr-defined]
        return await history.proof_of_target(info, row)


if TYPE_CHECKING:  # mypy sees the generated types as Node
    Deployment: TypeAlias = Node
    DeploymentTarget: TypeAlias = Node
    DeploymentEvent: TypeAlias = Node
    Rollout: TypeAlias = Node
else:
    Deployment = entity_type("Deployment", _DeploymentFields)
    DeploymentTarget = entity_type("DeploymentTarget", _DeploymentTargetFields)
    DeploymentEvent = entity_type("DeploymentEvent")
    Rollout = entity_type("Rollout")
