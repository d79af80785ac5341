"""Deployments mutations: inputs, payloads and fields."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from mlgraph.resolvers import deployments
from mlgraph.schema.deployments import Deployment
from mlgraph.schema.enums import DeploymentStrategy, Environment
from mlgraph.schema.payloads import REMOVED_OBJECTS_DOC, USER_ERRORS_DOC, UserError, command

_REVISION = "Fail with CONFLICT unless the deployment's current revision is this one."
_IDEMPOTENCY = "Retries with the same key and input return the first result (24 h)."


@strawberry.input(description="A new deployment serving one version of a model.")
class CreateDeploymentInput:
    model_id: strawberry.ID = strawberry.field(description="The model to serve (not archived).")
    name: str = strawberry.field(description="Unique within the model's project.")
    environment: Environment = strawberry.field(description="Where it serves.")
    strategy: DeploymentStrategy = strawberry.field(
        description="How traffic moves between versions."
    )
    version_id: strawberry.ID = strawberry.field(
        description="The version served first, with 100% of the traffic: one of the model's, "
        "not ARCHIVED."
    )
    config: JSON | None = strawberry.field(
        default=None, description="Strategy configuration: a JSON object of at most 16 kB."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="One version's share of a deployment's traffic.")
class TrafficSplitInput:
    version_id: strawberry.ID = strawberry.field(
        description="A version of the deployment's model (not ARCHIVED unless its share is 0)."
    )
    percent: float = strawberry.field(
        description="Share of traffic in [0, 100]; 0 takes the version out of the deployment."
    )


@strawberry.input(description="Replace a deployment's traffic split.")
class ShiftTrafficInput:
    deployment_id: strawberry.ID = strawberry.field(description="The deployment.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)
    splits: list[TrafficSplitInput] = strawberry.field(
        description="The new split, 1 to 10 distinct versions summing to at most 100%. Versions "
        "left out stop receiving traffic."
    )


@strawberry.input(description="Send all traffic to one of a deployment's current versions.")
class PromoteDeploymentInput:
    deployment_id: strawberry.ID = strawberry.field(description="The deployment.")
    version_id: strawberry.ID = strawberry.field(
        description="A version the deployment serves now; it gets 100%, the others are removed."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Send all traffic back to an earlier version.")
class RollbackDeploymentInput:
    deployment_id: strawberry.ID = strawberry.field(description="The deployment.")
    to_version_id: strawberry.ID = strawberry.field(
        description="A version of the same model created before the version serving the most "
        "traffic now; not ARCHIVED."
    )
    reason: str = strawberry.field(
        description="Why (required, at most 2000 characters); becomes the event's message."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Delete a deployment with its events, drift metrics and alerts.")
class DeleteDeploymentInput:
    deployment_id: strawberry.ID = strawberry.field(
        description="The deployment (an ACTIVE one in PRODUCTION needs a project ADMIN)."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.type
class _DeploymentPayload:
    deployment: Deployment | None = strawberry.field(description="The deployment after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `createDeployment`.")
class CreateDeploymentPayload(_DeploymentPayload):
    pass


@strawberry.type(description="Result of `shiftTraffic`.")
class ShiftTrafficPayload(_DeploymentPayload):
    pass


@strawberry.type(description="Result of `promoteDeployment`.")
class PromoteDeploymentPayload(_DeploymentPayload):
    pass


@strawberry.type(description="Result of `rollbackDeployment`.")
class RollbackDeploymentPayload(_DeploymentPayload):
    pass


@strawberry.type(description="Result of `deleteDeployment`.")
class DeleteDeploymentPayload:
    deleted_deployment_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the deleted deployment."
    )
    removed_objects: int | None = strawberry.field(default=None, description=REMOVED_OBJECTS_DOC)
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type
class DeploymentMutations:
    create_deployment = command(
        deployments.CreateDeployment,
        CreateDeploymentInput,
        CreateDeploymentPayload,
        description="Deploy a model: one version at 100% of the traffic.",
    )
    shift_traffic = command(
        deployments.ShiftTraffic,
        ShiftTrafficInput,
        ShiftTrafficPayload,
        description="Replace a deployment's traffic split (at most 100% in all).",
    )
    promote_deployment = command(
        deployments.PromoteDeployment,
        PromoteDeploymentInput,
        PromoteDeploymentPayload,
        description="Give one served version all traffic; status ACTIVE.",
    )
    rollback_deployment = command(
        deployments.RollbackDeployment,
        RollbackDeploymentInput,
        RollbackDeploymentPayload,
        description="Give an earlier version all traffic; status ROLLED_BACK.",
    )
    delete_deployment = command(
        deployments.DeleteDeployment,
        DeleteDeploymentInput,
        DeleteDeploymentPayload,
        description="Delete a deployment with its traffic split, events, drift metrics (reports "
        "in the store included), alerts and its own alert rules; an ACTIVE PRODUCTION one needs "
        "a project ADMIN. Its audit entries stay.",
    )
