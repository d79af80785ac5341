"""Pipelines and their runs (jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from mlgraph.schema.enums import JobKind, JobStatus
from mlgraph.schema.objects import DEFAULT_EXPIRES_IN, EXPIRES_IN_DOC, download_url
from mlgraph.schema.relay import Connection, Info, Node, connection, node_type, one
from mlgraph.storage.objects.keys import job_logs_key

if TYPE_CHECKING:
    from mlgraph.schema.projects import Project


@node_type("A training or processing pipeline; its runs are jobs.")
class Pipeline(Node):
    name: str = strawberry.field(description="Unique within the project.")
    description: str = strawberry.field(description="What the pipeline does.")
    nodes: JSON = strawberry.field(description="The pipeline's steps, as declared by its owner.")
    revision: int = strawberry.field(
        description="Increases on every change; pass it as `expectedRevision` to update."
    )
    created_at: datetime = strawberry.field(description="When created.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    project: Annotated[Project, strawberry.lazy("mlgraph.schema.projects")] | None = one(
        "Pipeline", "project", "The owning project."
    )
    runs: Connection[Job] = connection("Pipeline", "runs", "Runs of this pipeline, newest first.")


@node_type("A unit of work run elsewhere (Airflow, Kubeflow, CI) and recorded here.")
class Job(Node):
    kind: JobKind = strawberry.field(description="Pipeline run, evaluation or rollout.")
    status: JobStatus = strawberry.field(description="Where the job is in its state machine.")
    progress: float = strawberry.field(description="Reported progress, 0..1.")
    message: str = strawberry.field(description="Last status message from the runner.")
    parameters: JSON = strawberry.field(description="Parameters the job was started with.")
    started_at: datetime | None = strawberry.field(description="When it started running.")
    finished_at: datetime | None = strawberry.field(description="When it reached a final state.")
    revision: int = strawberry.field(
        description="Increases on every change; pass it as `expectedRevision` to update."
    )
    created_at: datetime = strawberry.field(description="When queued.")
    updated_at: datetime = strawberry.field(description="When last reported on.")
    project: Annotated[Project, strawberry.lazy("mlgraph.schema.projects")] | None = one(
        "Job", "project", "The owning project."
    )
    pipeline: Pipeline | None = one("Job", "pipeline", "The pipeline this is a run of, if any.")

    @strawberry.field(
        description="A presigned URL of the job's log (`projects/<project>/jobs/<job>/logs.txt` "
        "in the object store, written by the runner); null while there is none."
    )
    async def logs_url(
        self,
        info: Info,
        expires_in: Annotated[int, strawberry.argument(description=EXPIRES_IN_DOC)] = (
            DEFAULT_EXPIRES_IN
        ),
    ) -> str | None:
        key = job_logs_key(self.row.project_id, self.pk)
        return await download_url(info, key, expires_in, check=True)
