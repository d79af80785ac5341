"""The model registry: models, versions with lineage, aliases and artifacts."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import (
    NEWEST,
    REVISION,
    TIME_ORDERS,
    EntityDecl,
    Filter,
    NumberKey,
    Order,
    Relation,
    Through,
    fields,
    many,
    one,
    rels,
)

_BY_ALIAS = Order("alias")

ENTITIES = (
    EntityDecl(
        "Model",
        m.Model,
        "registry",
        "A registered model: a named line of versions.",
        fields(
            name="Unique within the project.",
            description="What the model predicts.",
            tags="Free-form labels for search.",
            risk_tier="Drives the promotion policy.",
            required_metrics="Metrics a version must report before it may reach PRODUCTION.",
            archived_at="When archived; null if active.",
            revision=REVISION,
            created_at="When registered.",
            updated_at="When last changed.",
        ),
        orders={"NAME": "name", **TIME_ORDERS},
        filters=(
            Filter("name_contains", "name", "icontains", "Case-insensitive substring of the name."),
            Filter("tags", "tags", "contains_all", "Has all of these tags."),
            Filter("risk_tier", "risk_tier", "in", "Any of these."),
            Filter(
                "stage",
                "stage",
                "exists_in",
                "Has a version in any of these stages.",
                via=(m.ModelVersion, "model_id"),
            ),
        ),
        filter_description="Search models.",
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            many("versions", "ModelVersion", "model_id", "Versions", order=NEWEST),
            many(
                "deployments", "Deployment", "model_id", "Deployments of this model", order=NEWEST
            ),
            Relation(
                "aliases",
                "ModelAlias",
                "list",
                "model_id",
                order=_BY_ALIAS,
                description="Named pointers (`champion`, `latest`...) to versions",
            ),
        ),
    ),
    EntityDecl(
        "ModelVersion",
        m.ModelVersion,
        "registry",
        "One trained version of a model, with its lifecycle stage and lineage.",
        fields(
            version="Semantic version, unique within the model.",
            stage="Lifecycle stage.",
            description="Release notes.",
            metrics="Evaluation metrics, name -> number.",
            metadata="Free-form metadata from the producer.",
            commit_sha="Source commit the version was built from.",
            revision=REVISION,
            created_at="When registered.",
            updated_at="When last changed.",
        ),
        orders={
            "VERSION": "version",
            **TIME_ORDERS,
            "METRIC": NumberKey(
                "metrics",
                "metric",
                "With `field: METRIC`: the metric to order by (versions without it come last).",
            ),
        },
        filters=(
            Filter("stage", "stage", "in", "Any of these stages."),
            Filter(
                "metrics",
                "metrics",
                "number_ranges",
                "Reports every one of these metrics within its bounds.",
            ),
        ),
        filter_description="Filter model versions.",
        relations=rels(
            one("model", "Model", "model_id", "The model this is a version of."),
            one("source_run", "Job", "source_run_id", "The job that produced this version."),
            many(
                "artifacts",
                "Artifact",
                "version_id",
                "Files of this version (weights, metrics...)",
            ),
            many(
                "parents",
                "ModelVersion",
                None,
                "Versions this one was derived from (lineage)",
                through=Through(m.ModelVersionLineage, "child_id", "parent_id"),
                order=NEWEST,
            ),
            many(
                "children",
                "ModelVersion",
                None,
                "Versions derived from this one (lineage)",
                through=Through(m.ModelVersionLineage, "parent_id", "child_id"),
                order=NEWEST,
            ),
            many(
                "deployments",
                "Deployment",
                None,
                "Deployments serving this version",
                through=Through(m.DeploymentTarget, "version_id", "deployment_id"),
                order=NEWEST,
            ),
            Relation(
                "aliases",
                "ModelAlias",
                "list",
                "version_id",
                order=_BY_ALIAS,
                description="Aliases pointing at this version",
            ),
        ),
    ),
    EntityDecl(
        "ModelAlias",
        m.ModelAlias,
        "registry",
        "A named pointer to one version of a model; what serving code resolves.",
        fields(
            alias="The name, unique within the model.",
            created_at="When first set.",
            updated_at="When last moved.",
        ),
        relations=rels(
            one("model", "Model", "model_id", "The model."),
            one("version", "ModelVersion", "version_id", "The version it points at."),
        ),
    ),
    EntityDecl(
        "Artifact",
        m.Artifact,
        "registry",
        "A file belonging to a model version, kept in object storage.",
        fields(
            kind="What the file holds.",
            status="AVAILABLE once its upload is verified.",
            file_name="Original file name.",
            size_bytes="Declared size in bytes.",
            sha256="Declared SHA-256, hex.",
            content_type="MIME type.",
            created_at="When the upload was created.",
            updated_at="When last changed.",
        ),
        orders={"FILE_NAME": "file_name", **TIME_ORDERS},
        relations=rels(
            one("version", "ModelVersion", "version_id", "The version it belongs to."),
            many(
                "downloads",
                "ArtifactDownload",
                "artifact_id",
                "Download URLs issued for it (the read audit)",
                order=NEWEST,
            ),
        ),
    ),
)
