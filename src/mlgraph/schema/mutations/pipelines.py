"""Pipelines mutations: inputs, payloads and fields."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from mlgraph.resolvers import pipelines
from mlgraph.schema.enums import JobStatus
from mlgraph.schema.payloads import USER_ERRORS_DOC, UserError, command
from mlgraph.schema.pipelines import Job, Pipeline

_REVISION = "Fail with CONFLICT unless the current revision is this one."
_IDEMPOTENCY = "Retries with the same key and input return the first result (24 h)."
_NODES = "The pipeline's steps (at most 200); node ids are unique within the pipeline."


@strawberry.input(description="One step of a pipeline.")
class PipelineNodeInput:
    id: str = strawberry.field(description="Unique within the pipeline, at most 64 characters.")
    kind: str = strawberry.field(
        description="What the step does (e.g. `train`, `evaluate`), at most 64 characters."
    )
    config: JSON | None = strawberry.field(
        default=None, description="The step's settings, any JSON up to 64 kB."
    )


@strawberry.input(description="A dependency between two steps of a pipeline.")
class PipelineEdgeInput:
    from_: str = strawberry.field(name="from", description="The node id that runs first.")
    to: str = strawberry.field(description="The node id that runs after it.")


_EDGES = (
    "Dependencies between the nodes (at most 1000), forming a DAG: a cycle is CYCLE. The edges "
    "into a locked node are part of it (LOCKED)."
)


@strawberry.input(description="A new pipeline in a project.")
class CreatePipelineInput:
    project_id: strawberry.ID = strawberry.field(description="The owning project.")
    name: str = strawberry.field(description="Unique within the project.")
    description: str | None = strawberry.field(default=None, description="What the pipeline does.")
    nodes: list[PipelineNodeInput] | None = strawberry.field(
        default=None, description=f"{_NODES} Default: none."
    )
    edges: list[PipelineEdgeInput] | None = strawberry.field(
        default=None, description=f"{_EDGES} Default: none."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(
    description="Replace a pipeline's nodes (and edges). Locked nodes must be passed unchanged "
    "(same kind and config, same edges into them); they keep their lock."
)
class UpdatePipelineNodesInput:
    pipeline_id: strawberry.ID = strawberry.field(description="The pipeline.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)
    nodes: list[PipelineNodeInput] = strawberry.field(description=f"The new node list. {_NODES}")
    edges: list[PipelineEdgeInput] | None = strawberry.field(
        default=None,
        description=f"The new edge list. {_EDGES} Default: the current edges (each must still "
        "name two nodes).",
    )


@strawberry.input(description="Lock nodes so `updatePipelineNodes` cannot change or remove them.")
class LockPipelineNodesInput:
    pipeline_id: strawberry.ID = strawberry.field(description="The pipeline.")
    node_ids: list[str] = strawberry.field(
        description="Ids of the nodes to lock (at least one); already locked ones stay locked."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Unlock nodes so they can be changed or removed again.")
class UnlockPipelineNodesInput:
    pipeline_id: strawberry.ID = strawberry.field(description="The pipeline.")
    node_ids: list[str] = strawberry.field(
        description="Ids of the nodes to unlock (at least one); unlocked ones stay unlocked."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Queue a run of a pipeline.")
class StartPipelineRunInput:
    pipeline_id: strawberry.ID = strawberry.field(description="The pipeline to run.")
    parameters: JSON | None = strawberry.field(
        default=None, description="Run parameters: a JSON object up to 64 kB (default `{}`)."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(
    description="A runner's report on a job; omitted fields stay as they are. Give at least one "
    "of status, progress, message."
)
class UpdateJobInput:
    job_id: strawberry.ID = strawberry.field(description="The job.")
    status: JobStatus | None = strawberry.field(
        default=None,
        description="New status: QUEUED -> RUNNING | CANCELLED | FAILED, RUNNING -> SUCCEEDED | "
        "FAILED | CANCELLED; the current status again is a progress report. Entering RUNNING "
        "sets startedAt, a final state sets finishedAt, SUCCEEDED sets progress to 1.",
    )
    progress: float | None = strawberry.field(default=None, description="Progress within [0, 1].")
    message: str | None = strawberry.field(
        default=None, description="Status message, at most 2000 characters."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Cancel a queued or running job.")
class CancelJobInput:
    job_id: strawberry.ID = strawberry.field(description="The job.")
    reason: str | None = strawberry.field(
        default=None,
        description="Why; becomes the job's message (default `cancelled`), at most 2000 "
        "characters.",
    )


@strawberry.type
class _PipelinePayload:
    pipeline: Pipeline | None = strawberry.field(description="The pipeline after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `createPipeline`.")
class CreatePipelinePayload(_PipelinePayload):
    pass


@strawberry.type(description="Result of `updatePipelineNodes`.")
class UpdatePipelineNodesPayload(_PipelinePayload):
    pass


@strawberry.type(description="Result of `lockPipelineNodes`.")
class LockPipelineNodesPayload(_PipelinePayload):
    pass


@strawberry.type(description="Result of `unlockPipelineNodes`.")
class UnlockPipelineNodesPayload(_PipelinePayload):
    pass


@strawberry.type
class _JobPayload:
    job: Job | None = strawberry.field(description="The job after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `startPipelineRun`: the queued job.")
class StartPipelineRunPayload(_JobPayload):
    pass


@strawberry.type(description="Result of `updateJob`.")
class UpdateJobPayload(_JobPayload):
    pass


@strawberry.type(description="Result of `cancelJob`.")
class CancelJobPayload(_JobPayload):
    pass


@strawberry.type
class PipelineMutations:
    create_pipeline = command(
        pipelines.CreatePipeline,
        CreatePipelineInput,
        CreatePipelinePayload,
        description="Create a pipeline in a project.",
    )
    update_pipeline_nodes = command(
        pipelines.UpdatePipelineNodes,
        UpdatePipelineNodesInput,
        UpdatePipelineNodesPayload,
        description="Replace a pipeline's nodes; locked nodes must stay as they are.",
    )
    lock_pipeline_nodes = command(
        pipelines.LockPipelineNodes,
        LockPipelineNodesInput,
        LockPipelineNodesPayload,
        description="Lock pipeline nodes against change and removal.",
    )
    unlock_pipeline_nodes = command(
        pipelines.UnlockPipelineNodes,
        UnlockPipelineNodesInput,
        UnlockPipelineNodesPayload,
        description="Unlock pipeline nodes.",
    )
    start_pipeline_run = command(
        pipelines.StartPipelineRun,
        StartPipelineRunInput,
        StartPipelineRunPayload,
        description="Queue a run of a pipeline: a PIPELINE_RUN job.",
    )
    update_job = command(
        pipelines.UpdateJob,
        UpdateJobInput,
        UpdateJobPayload,
        description="Report a job's status, progress or message (for runners).",
    )
    cancel_job = command(
        pipelines.CancelJob,
        CancelJobInput,
        CancelJobPayload,
        description="Cancel a queued or running job.",
    )
