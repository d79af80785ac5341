"""Pipelines and their runs (jobs)."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import (
    NEWEST,
    REVISION,
    STAMPS,
    TIME_ORDERS,
    EntityDecl,
    Filter,
    fields,
    many,
    one,
    rels,
)

ENTITIES = (
    EntityDecl(
        "Pipeline",
        m.Pipeline,
        "pipelines",
        "A training or processing pipeline; its runs are jobs.",
        fields(
            name="Unique within the project.",
            description="What the pipeline does.",
            nodes="The pipeline's steps, as declared by its owner.",
            edges="Dependencies between the steps, `{from, to}` node ids: `to` runs after "
            "`from`. They form a DAG.",
            revision=REVISION,
            **STAMPS,
        ),
        orders={"NAME": "name", **TIME_ORDERS},
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            many("runs", "Job", "pipeline_id", "Runs of this pipeline", order=NEWEST),
        ),
    ),
    EntityDecl(
        "Job",
        m.Job,
        "pipelines",
        "A unit of work run elsewhere (Airflow, Kubeflow, CI) and recorded here.",
        fields(
            kind="Pipeline run, evaluation or rollout.",
            status="Where the job is in its state machine.",
            progress="Reported progress, 0..1.",
            message="Last status message from the runner.",
            parameters="Parameters the job was started with.",
            started_at="When it started running.",
            finished_at="When it reached a final state.",
            revision=REVISION,
            created_at="When queued.",
            updated_at="When last reported on.",
        ),
        orders=TIME_ORDERS,
        filters=(
            Filter("status", "status", "in", "Any of these."),
            Filter("kind", "kind", "in", "Any of these kinds."),
        ),
        filter_description="Filter jobs.",
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            one("pipeline", "Pipeline", "pipeline_id", "The pipeline this is a run of, if any."),
        ),
    ),
)
