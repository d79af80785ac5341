"""Registry mutations: inputs, payloads and fields."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from mlgraph.resolvers import registry
from mlgraph.schema.enums import RiskTier, Stage
from mlgraph.schema.payloads import REMOVED_OBJECTS_DOC, USER_ERRORS_DOC, UserError, command
from mlgraph.schema.registry import Model, ModelVersion

_REVISION = "Fail with CONFLICT unless the current revision is this one."
_MODEL_REVISION = (
    "Fail with CONFLICT unless the model's revision is this one (alias changes increase it)."
)
_IDEMPOTENCY = "Retries with the same key and input return the first result (24 h)."
_REASON = "Why, at most 10,000 characters: kept in the audit entry, shown by the history."
_ALIAS = "1-64 characters `[a-z0-9][a-z0-9._-]*`; `latest` is managed by the registry."


@strawberry.input(description="A new model in a project.")
class RegisterModelInput:
    project_id: strawberry.ID = strawberry.field(description="The owning project.")
    name: str = strawberry.field(description="Unique within the project, at most 200 characters.")
    description: str | None = strawberry.field(default=None, description="What it predicts.")
    tags: list[str] | None = strawberry.field(
        default=None, description="Labels for search: at most 50, each up to 64 characters."
    )
    risk_tier: RiskTier = strawberry.field(
        description="How much harm it can do; HIGH needs an approval before PRODUCTION."
    )
    required_metrics: list[str] | None = strawberry.field(
        default=None,
        description="Metric names a version must report before PRODUCTION (at most 50).",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="Changes to a model; omitted fields stay as they are.")
class UpdateModelInput:
    model_id: strawberry.ID = strawberry.field(description="The model.")
    expected_revision: int | None = strawberry.field(default=None, description=_MODEL_REVISION)
    description: str | None = strawberry.field(default=None, description="New description.")
    tags: list[str] | None = strawberry.field(
        default=None, description="New labels (replace the old ones)."
    )
    risk_tier: RiskTier | None = strawberry.field(default=None, description="New risk tier.")
    required_metrics: list[str] | None = strawberry.field(
        default=None, description="New list of metrics required for PRODUCTION."
    )


@strawberry.input(description="Archive a model: it stays readable but accepts no new versions.")
class ArchiveModelInput:
    model_id: strawberry.ID = strawberry.field(description="The model.")
    expected_revision: int | None = strawberry.field(default=None, description=_MODEL_REVISION)


@strawberry.input(description="Delete a model with its versions.")
class DeleteModelInput:
    model_id: strawberry.ID = strawberry.field(
        description="The model (no deployment, no version in PRODUCTION)."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_MODEL_REVISION)


@strawberry.input(description="Delete a model version with its artifacts.")
class DeleteModelVersionInput:
    version_id: strawberry.ID = strawberry.field(
        description="The version (not in PRODUCTION, not deployed, no alias but `latest`)."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="A new version of a model; it starts in DRAFT.")
class CreateModelVersionInput:
    model_id: strawberry.ID = strawberry.field(description="The model.")
    version: str = strawberry.field(
        description="Semantic version 2.0 (`1.4.0`, `2.0.0-rc.1`), unique within the model."
    )
    description: str | None = strawberry.field(default=None, description="Release notes.")
    metrics: JSON | None = strawberry.field(
        default=None, description="Evaluation metrics: an object of name -> finite number."
    )
    metadata: JSON | None = strawberry.field(
        default=None, description="Free-form JSON object from the producer (at most 64 kB)."
    )
    commit_sha: str | None = strawberry.field(
        default=None, description="Source commit: 7 to 40 hexadecimal characters."
    )
    source_run_id: strawberry.ID | None = strawberry.field(
        default=None, description="The job (in the same project) that produced it."
    )
    parent_version_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Versions (in the same project) it derives from, at most 20."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="Move a version to another lifecycle stage.")
class TransitionModelVersionInput:
    version_id: strawberry.ID = strawberry.field(description="The version.")
    stage: Stage = strawberry.field(
        description="The new stage. DRAFT -> STAGING | ARCHIVED; STAGING -> PRODUCTION | DRAFT "
        "| ARCHIVED; PRODUCTION -> STAGING | ARCHIVED; ARCHIVED is final. PRODUCTION requires "
        "the model's required metrics, an AVAILABLE WEIGHTS artifact and, for HIGH risk, an "
        "approval."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)
    reason: str | None = strawberry.field(default=None, description=_REASON)


@strawberry.input(description="Approve a version as the calling principal (once per approver).")
class ApproveModelVersionInput:
    version_id: strawberry.ID = strawberry.field(description="The version.")
    comment: str | None = strawberry.field(default=None, description="Why it is approved.")


@strawberry.input(description="Point an alias of a model at one of its versions (set or move).")
class SetModelAliasInput:
    model_id: strawberry.ID = strawberry.field(description="The model.")
    alias: str = strawberry.field(description=f"{_ALIAS} Protected aliases need a project ADMIN.")
    version_id: strawberry.ID = strawberry.field(description="A version of this model.")
    expected_revision: int | None = strawberry.field(default=None, description=_MODEL_REVISION)
    reason: str | None = strawberry.field(default=None, description=_REASON)


@strawberry.input(description="Remove an alias from a model.")
class RemoveModelAliasInput:
    model_id: strawberry.ID = strawberry.field(description="The model.")
    alias: str = strawberry.field(
        description="The alias; protected ones need a project ADMIN, `latest` cannot be removed."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_MODEL_REVISION)
    reason: str | None = strawberry.field(default=None, description=_REASON)


@strawberry.type
class _ModelPayload:
    model: Model | None = strawberry.field(description="The model after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type
class _ModelVersionPayload:
    model_version: ModelVersion | None = strawberry.field(
        description="The version after the change."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `registerModel`.")
class RegisterModelPayload(_ModelPayload):
    pass


@strawberry.type(description="Result of `updateModel`.")
class UpdateModelPayload(_ModelPayload):
    pass


@strawberry.type(description="Result of `archiveModel`.")
class ArchiveModelPayload(_ModelPayload):
    pass


@strawberry.type(description="Result of `deleteModel`.")
class DeleteModelPayload:
    deleted_model_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the deleted model."
    )
    removed_objects: int | None = strawberry.field(default=None, description=REMOVED_OBJECTS_DOC)
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `deleteModelVersion`.")
class DeleteModelVersionPayload:
    model: Model | None = strawberry.field(
        description="The version's model after the delete (`latest` moved to the highest left)."
    )
    deleted_model_version_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the deleted version."
    )
    removed_objects: int | None = strawberry.field(default=None, description=REMOVED_OBJECTS_DOC)
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `createModelVersion`.")
class CreateModelVersionPayload(_ModelVersionPayload):
    pass


@strawberry.type(description="Result of `transitionModelVersion`.")
class TransitionModelVersionPayload(_ModelVersionPayload):
    pass


@strawberry.type(description="Result of `approveModelVersion`.")
class ApproveModelVersionPayload(_ModelVersionPayload):
    pass


@strawberry.type(description="Result of `setModelAlias`: the model with its aliases.")
class SetModelAliasPayload(_ModelPayload):
    pass


@strawberry.type(description="Result of `removeModelAlias`.")
class RemoveModelAliasPayload(_ModelPayload):
    pass


@strawberry.type
class RegistryMutations:
    register_model = command(
        registry.RegisterModel,
        RegisterModelInput,
        RegisterModelPayload,
        description="Register a model in a project.",
    )
    update_model = command(
        registry.UpdateModel,
        UpdateModelInput,
        UpdateModelPayload,
        description="Change a model's description, tags, risk tier or policy.",
    )
    archive_model = command(
        registry.ArchiveModel,
        ArchiveModelInput,
        ArchiveModelPayload,
        description="Archive a model.",
    )
    delete_model = command(
        registry.DeleteModel,
        DeleteModelInput,
        DeleteModelPayload,
        description="Delete a model with its versions, artifacts (objects in the store "
        "included), aliases and approvals. Refused while a deployment serves it (IN_USE) or a "
        "version is in PRODUCTION (POLICY_VIOLATION); its audit entries stay.",
    )
    create_model_version = command(
        registry.CreateModelVersion,
        CreateModelVersionInput,
        CreateModelVersionPayload,
        description="Add a version (DRAFT) to a model; `latest` follows it.",
    )
    transition_model_version = command(
        registry.TransitionModelVersion,
        TransitionModelVersionInput,
        TransitionModelVersionPayload,
        description="Move a version to another stage (promotion is checked).",
    )
    approve_model_version = command(
        registry.ApproveModelVersion,
        ApproveModelVersionInput,
        ApproveModelVersionPayload,
        description="Approve a version as the calling principal.",
    )
    delete_model_version = command(
        registry.DeleteModelVersion,
        DeleteModelVersionInput,
        DeleteModelVersionPayload,
        description="Delete a version with its artifacts (objects in the store included); "
        "`latest` moves to the highest version left. Refused in PRODUCTION (POLICY_VIOLATION), "
        "while deployed or named by another alias (IN_USE); its audit entries stay.",
    )
    set_model_alias = command(
        registry.SetModelAlias,
        SetModelAliasInput,
        SetModelAliasPayload,
        description="Set or move an alias of a model.",
    )
    remove_model_alias = command(
        registry.RemoveModelAlias,
        RemoveModelAliasInput,
        RemoveModelAliasPayload,
        description="Remove an alias of a model.",
    )
